#include "rotary.h"

#include <cmath>

namespace nano {

namespace {

// cos / sin of float32 angles invFreq[i] * pos, times the attention factor, as torch computes them.
void fillTable(const std::vector<float>& invFreq, float factor, int contextLength, AlignedVec<float>& c,
               AlignedVec<float>& s) {
  const size_t half = invFreq.size();
  c.resize(size_t(contextLength) * half);
  s.resize(size_t(contextLength) * half);
  for (int p = 0; p < contextLength; ++p) {
    for (size_t i = 0; i < half; ++i) {
      float angle = invFreq[i] * float(p);
      c[size_t(p) * half + i] = float(std::cos(double(angle))) * factor;
      s[size_t(p) * half + i] = float(std::sin(double(angle))) * factor;
    }
  }
}

constexpr int kMaxHalf = 512;  // headDim <= 1024 (validateConfig)

}  // namespace

Rotary::Rotary(int contextLength, int headDim, double theta, bool neox)
    : headDim_(headDim), rotaryDim_(headDim), neox_(neox) {
  int half = headDim / 2;
  cos_.resize(size_t(contextLength) * half);
  sin_.resize(size_t(contextLength) * half);
  for (int p = 0; p < contextLength; ++p) {
    for (int i = 0; i < half; ++i) {
      double angle = p * std::pow(theta, -2.0 * i / headDim);
      cos_[size_t(p) * half + i] = float(std::cos(angle));
      sin_[size_t(p) * half + i] = float(std::sin(angle));
    }
  }
}

Rotary::Rotary(int contextLength, int headDim, const RopeTable& table)
    : headDim_(headDim), rotaryDim_(table.rotaryDim), neox_(true), table_(table) {
  const float factor = float(table.attentionFactor);
  fillTable(table.invFreq, factor, contextLength, cos_, sin_);
  if (!table.longInvFreq.empty()) fillTable(table.longInvFreq, factor, contextLength, longCos_, longSin_);
}

// Dynamic NTK past the original context: base * (factor * len / original - (factor - 1))^(dim / (dim - 2)),
// then 1 / base^(2i / dim), each step rounded to float32 as transformers' tensors are.
void Rotary::dynamicAngles(int pos, int runLength, float* c, float* s) const {
  const int dim = rotaryDim_, half = dim / 2;
  float ratio = float(table_.dynamicFactor) * float(runLength);
  ratio = ratio / float(table_.originalContext);
  ratio = ratio - float(table_.dynamicFactor - 1);
  float grown = float(std::pow(double(ratio), double(float(double(dim) / double(dim - 2)))));
  float base = float(table_.dynamicBase) * grown;
  for (int i = 0; i < half; ++i) {
    float exponent = float(2 * i) / float(dim);
    float inv = 1.0f / float(std::pow(double(base), double(exponent)));
    float angle = inv * float(pos);
    c[i] = float(std::cos(double(angle)));
    s[i] = float(std::sin(double(angle)));
  }
}

void Rotary::apply(float* heads, int numHeads, int pos, int runLength) const {
  const int half = rotaryDim_ / 2;
  const bool isLong = table_.originalContext > 0 && runLength > table_.originalContext;
  float dynC[kMaxHalf], dynS[kMaxHalf];
  const float* c = cos_.data() + size_t(pos) * half;
  const float* s = sin_.data() + size_t(pos) * half;
  if (isLong && table_.isDynamic) {
    dynamicAngles(pos, runLength, dynC, dynS);
    c = dynC;
    s = dynS;
  } else if (isLong && !longCos_.empty()) {
    c = longCos_.data() + size_t(pos) * half;
    s = longSin_.data() + size_t(pos) * half;
  }
  // neox: pairs (i, i + half); else (2i, 2i + 1). Two loops, so the neox one vectorizes.
  for (int h = 0; h < numHeads; ++h) {
    float* v = heads + size_t(h) * headDim_;
    if (neox_) {
      float* lo = v;
      float* hi = v + half;
      for (int i = 0; i < half; ++i) {
        float x0 = lo[i], x1 = hi[i];
        lo[i] = x0 * c[i] - x1 * s[i];
        hi[i] = x0 * s[i] + x1 * c[i];
      }
    } else {
      for (int i = 0; i < half; ++i) {
        float x0 = v[2 * i], x1 = v[2 * i + 1];
        v[2 * i] = x0 * c[i] - x1 * s[i];
        v[2 * i + 1] = x0 * s[i] + x1 * c[i];
      }
    }
  }
}

}  // namespace nano
