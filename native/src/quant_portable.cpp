// The portable quantized dot products: plain C++, one output at a time. This file states
// the arithmetic (quant_gemm.h) that the SIMD kernels reproduce bit for bit.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "isa.h"
#include "quant_acts.h"
#include "quant_gemm.h"

namespace nano {

namespace {

// fma(a, b, c) in baseline instructions: libm's fmaf runs vfmadd on a CPU with FMA, which the
// portable path must not. a * b is exact in double (24 + 24 bits); p + c is rounded to odd
// in double (the TwoSum error tells which way it was rounded), and 53 >= 24 + 2 bits make
// the one rounding to float then give the correctly rounded a * b + c: fmaf's bits.
inline float fmaBaseline(float a, float b, float c) {
  const double p = double(a) * double(b);
  double s = p + double(c);
  const double bp = s - p, err = (p - (s - bp)) + (double(c) - bp);  // s + err = p + c exactly
  uint64_t bits;
  std::memcpy(&bits, &s, 8);
  if (err != 0 && !(bits & 1)) {  // inexact and even: the odd neighbour on the exact value's side
    bits += (err > 0) == (s > 0) ? 1 : uint64_t(-1);
    std::memcpy(&s, &bits, 8);
  }
  return float(s);
}

float dotQ8_0(const uint8_t* w, QuantRowQ8_0 x, int k) {
  float acc = 0;
  for (int b = 0; b < k / 32; ++b, w += 34) {
    int32_t isum = 0;
    for (int i = 0; i < 32; ++i) isum += int8_t(w[2 + i]) * x.q[b * 32 + i];
    acc = fmaBaseline(halfToFloat(loadU16(w)) * x.d[b], float(isum), acc);
  }
  return acc;
}

float dotQ4_0(const uint8_t* w, QuantRowQ8_0 x, int k) {
  float acc = 0;
  for (int b = 0; b < k / 32; ++b, w += 18) {
    int32_t isum = 0;
    for (int i = 0; i < 16; ++i) isum += (w[2 + i] & 0xf) * x.q[b * 32 + i] + (w[2 + i] >> 4) * x.q[b * 32 + 16 + i];
    isum -= 8 * x.s[b];
    acc = fmaBaseline(halfToFloat(loadU16(w)) * x.d[b], float(isum), acc);
  }
  return acc;
}

float dotK45(const uint8_t* w, QuantRowQ8K x, int k, bool hasHigh) {
  const int blockBytes = hasHigh ? 176 : 144;
  float acc = 0;
  for (int b = 0; b < k / 256; ++b, w += blockBytes) {
    uint8_t sc[8], mn[8];
    unpackScalesK(w + 4, sc, mn);
    const uint8_t* qh = w + 16;
    const uint8_t* qs = hasHigh ? w + 48 : w + 16;
    const int8_t* q8 = x.q + b * 256;
    int32_t sumi = 0, summ = 0;
    for (int c = 0; c < 4; ++c) {
      int32_t lo = 0, hi = 0;
      for (int l = 0; l < 32; ++l) {
        int a = qs[32 * c + l] & 0xf, e = qs[32 * c + l] >> 4;
        if (hasHigh) {
          a += (qh[l] >> (2 * c) & 1) << 4;
          e += (qh[l] >> (2 * c + 1) & 1) << 4;
        }
        lo += a * q8[64 * c + l];
        hi += e * q8[64 * c + 32 + l];
      }
      sumi += sc[2 * c] * lo + sc[2 * c + 1] * hi;
    }
    for (int j = 0; j < 8; ++j) summ += mn[j] * (x.bsums[b * 16 + 2 * j] + x.bsums[b * 16 + 2 * j + 1]);
    const float dx = x.d[b];
    acc = fmaBaseline(halfToFloat(loadU16(w)) * dx, float(sumi), acc);
    acc = fmaBaseline(-(halfToFloat(loadU16(w + 2)) * dx), float(summ), acc);
  }
  return acc;
}

float dotQ6K(const uint8_t* w, QuantRowQ8K x, int k) {
  float acc = 0;
  for (int b = 0; b < k / 256; ++b, w += 210) {
    const uint8_t* ql = w;
    const uint8_t* qh = w + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(w + 192);
    const int8_t* q8 = x.q + b * 256;
    int32_t group[16] = {0};
    for (int h = 0; h < 2; ++h) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t a = ql[64 * h + l], c = ql[64 * h + 32 + l], hb = qh[32 * h + l];
        const int base = 128 * h + l, g = 8 * h + l / 16;
        group[g] += ((a & 0xf) | ((hb & 3) << 4)) * q8[base];
        group[g + 2] += ((c & 0xf) | (((hb >> 2) & 3) << 4)) * q8[base + 32];
        group[g + 4] += ((a >> 4) | (((hb >> 4) & 3) << 4)) * q8[base + 64];
        group[g + 6] += ((c >> 4) | (((hb >> 6) & 3) << 4)) * q8[base + 96];
      }
    }
    int32_t sumi = 0;
    for (int g = 0; g < 16; ++g) sumi += sc[g] * (group[g] - 32 * x.bsums[b * 16 + g]);
    acc = fmaBaseline(halfToFloat(loadU16(w + 208)) * x.d[b], float(sumi), acc);
  }
  return acc;
}

float dotRow(QuantType type, const uint8_t* w, const uint8_t* acts, int k, int r) {
  switch (type) {
    case QuantType::Q8_0: return dotQ8_0(w, actRowQ8_0(acts, k, r), k);
    case QuantType::Q4_0: return dotQ4_0(w, actRowQ8_0(acts, k, r), k);
    case QuantType::Q4_K: return dotK45(w, actRowQ8K(acts, k, r), k, false);
    case QuantType::Q5_K: return dotK45(w, actRowQ8K(acts, k, r), k, true);
    case QuantType::Q6_K: return dotQ6K(w, actRowQ8K(acts, k, r), k);
  }
  return 0;
}

void portableTile(const QuantMatrix& w, const QuantPart& p, const uint8_t* acts, int m, int colBegin, int colEnd,
                  const float* bias, float* y, int ldy) {
  markBuild(CloneFamily::QuantGemm, Build::Portable);
  for (int c = colBegin; c < colEnd; ++c) {
    const uint8_t* row = w.row(p, c - p.rowBegin);
    for (int r = 0; r < m; ++r) {
      const float acc = dotRow(p.type, row, acts, w.k, r);
      y[size_t(r) * ldy + c] = bias ? acc + bias[c] : acc;
    }
  }
}

}  // namespace

QuantKernel portableQuantKernel() { return {"portable", portableTile}; }

}  // namespace nano
