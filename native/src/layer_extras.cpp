// The per-layer steps that Hugging Face architectures add to the plain Llama block: q/k norms and
// the layer's rotary table (prepareQk), Gemma's post-norms, Gemma 2's final soft-cap.
#include "layer_extras.h"

#include <cmath>

#include "forward.h"

namespace nano {

// q and k of tokens [begin, end) in s_.qkv: per-head RMSNorm (qkNorm), then the layer's rotation.
// A token's run length (its sequence's last position in this step + 1) picks LongRoPE's and
// dynamic NTK's table, as transformers picks it per forward call.
void Model::prepareQk(int l, const StepBatch& batch, int begin, int end) {
  if (rotary_.empty()) return;
  const ModelConfig& c = config_;
  const LayerWeights& w = weights_.layers[l];
  const Rotary& rotary = rotary_[c.ropeOf(l)];
  const int rowWidth = c.qDim() + 2 * c.kvDim(), hd = c.headDim;
  for (int i = begin; i < end; ++i) {
    float* q = s_.qkv.data() + size_t(i) * rowWidth;
    float* k = q + c.qDim();
    if (c.qkNorm) {
      for (int h = 0; h < c.numHeads; ++h) rmsNorm(gemm_.isa, q + size_t(h) * hd, q + size_t(h) * hd, w.qNorm.data(), hd, float(c.normEps));
      for (int h = 0; h < c.numKvHeads; ++h) rmsNorm(gemm_.isa, k + size_t(h) * hd, k + size_t(h) * hd, w.kNorm.data(), hd, float(c.normEps));
    }
    const int seq = s_.tokenSeq[i];
    const int runLength = batch.positions[batch.seqStart[seq + 1] - 1] + 1;
    rotary.apply(q, c.numHeads, batch.positions[i], runLength);
    rotary.apply(k, c.numKvHeads, batch.positions[i], runLength);
  }
}

// Gemma 2's final soft-cap: logits = cap * tanh(logits / cap), for sampled rows [rowBegin, rowEnd).
void Model::softcapLogits(int rowBegin, int rowEnd) {
  const float cap = config_.finalSoftcap;
  if (cap <= 0) return;
  float* logits = s_.logits.data();
  for (size_t j = size_t(rowBegin) * config_.vocabSize; j < size_t(rowEnd) * config_.vocabSize; ++j)
    logits[j] = std::tanh(logits[j] / cap) * cap;
}

// RMSNorm of a block's output rows in place (Gemma's post-attention / post-FFN norms).
void postNormRows(Isa isa, const ModelConfig& c, float* rows, int numRows, const AlignedVec<float>& w) {
  if (w.empty()) return;
  const int n = c.hiddenSize;
  for (int r = 0; r < numRows; ++r) rmsNorm(isa, rows + size_t(r) * n, rows + size_t(r) * n, w.data(), n, float(c.normEps));
}

}  // namespace nano
