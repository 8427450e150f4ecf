#include "forward_rows.h"

#include <cstring>

#include "ops.h"

namespace nano {

void normRow(Isa isa, const ModelConfig& c, float* out, const float* in, const AlignedVec<float>& w,
             const AlignedVec<float>& b) {
  if (b.empty()) rmsNorm(isa, out, in, w.data(), c.hiddenSize, float(c.normEps));
  else layerNorm(isa, out, in, w.data(), b.data(), c.hiddenSize, float(c.normEps));
}

void embedRows(Isa isa, const ModelConfig& c, const Weights& w, const StepBatch& batch, float* x, int begin, int end) {
  const int n = c.hiddenSize;
  for (int i = begin; i < end; ++i) {
    float* row = x + size_t(i) * n;
    if (w.tokenQuant) {
      const QuantMatrix& e = *w.tokenQuant;
      const int token = batch.tokens[i];
      dequantizeRow(e.partOfRow(token).type, e.row(e.partOfRow(token), token), n, row);
    } else {
      std::memcpy(row, w.tokenEmbedding.data() + size_t(batch.tokens[i]) * n, n * sizeof(float));
    }
    if (c.embedScale > 0)
      for (int j = 0; j < n; ++j) row[j] *= c.embedScale;
    if (c.family == Family::Gpt2) addInPlace(isa, row, w.positionEmbedding.data() + size_t(batch.positions[i]) * n, n);
  }
}

void activateRows(Isa isa, const ModelConfig& c, const float* hb, float* hb2, int begin, int end) {
  const int ffn = c.intermediateSize;
  const bool llama = c.family == Family::Llama;
  const int width = llama ? 2 * ffn : ffn;
  for (int i = begin; i < end; ++i) {
    const float* row = hb + size_t(i) * width;
    float* out = hb2 + size_t(i) * ffn;
    if (!llama) {
      geluTanh(isa, out, row, ffn);
    } else if (c.ffnAct == Activation::GeluTanh) {  // GeGLU: gelu(gate) * up
      geluTanh(isa, out, row, ffn);
      for (int j = 0; j < ffn; ++j) out[j] *= row[ffn + j];
    } else {
      siluMul(isa, out, row, row + ffn, ffn);
    }
  }
}

}  // namespace nano
