// The split by layers: each op of each layer runs over the whole batch, split over the pool
// (a barrier per op). For models whose weights do not sit in L2, and for prefill.
#include <cstring>

#include "forward.h"
#include "forward_rows.h"
#include "layer_extras.h"

namespace nano {

void Model::linear(const float* x, int ldx, int rows, const PackedMatrix& w, const AlignedVec<float>& bias,
                   float* y, int ldy) {
  gemm(pool_, gemm_, x, ldx, rows, w, bias.empty() ? nullptr : bias.data(), y, ldy, s_.xPairs.data());
}

void Model::norm(float* out, const float* in, const AlignedVec<float>& w, const AlignedVec<float>& b, int rows) {
  const int n = config_.hiddenSize;
  pool_.parallelFor(rows, 16, [&](int begin, int end, int) {
    for (int r = begin; r < end; ++r) normRow(config_, out + size_t(r) * n, in + size_t(r) * n, w, b);
  });
}

void Model::embed(const StepBatch& batch) {
  embedRows(config_, weights_, batch, s_.x.data(), 0, batch.numTokens());
  for (int s = 0; s < batch.numSeqs(); ++s)
    for (int i = batch.seqStart[s]; i < batch.seqStart[s + 1]; ++i) s_.tokenSeq[i] = s;
}

// x += Wo · attention(rope(Wq xb), rope(Wk xb), Wv xb), with xb = norm(x).
void Model::attentionBlock(int l, const StepBatch& batch) {
  const LayerWeights& w = weights_.layers[l];
  const int numTokens = batch.numTokens(), n = config_.hiddenSize;
  const int rowWidth = config_.qDim() + 2 * config_.kvDim();
  norm(s_.xb.data(), s_.x.data(), w.attnNorm, w.attnNormBias, numTokens);
  linear(s_.xb.data(), n, numTokens, w.qkv, w.qkvBias, s_.qkv.data(), rowWidth);
  prepareQk(l, batch, 0, numTokens);
  TokenPages where{batch.positions.data(), s_.tokenSeq.data(), batch.pageTable.data(), batch.pageStart.data()};
  writeKv(kv_, l, config_, s_.qkv.data(), 0, numTokens, where);
  attention(pool_, kv_, l, config_, s_.attShape, s_.qkv.data(), numTokens, where, s_.scores.data(), s_.att.data());
  linear(s_.att.data(), config_.qDim(), numTokens, w.attnOut, w.attnOutBias, s_.xb2.data(), n);
  postNormRows(config_, s_.xb2.data(), numTokens, w.attnPostNorm);
  addInPlace(s_.x.data(), s_.xb2.data(), numTokens * n);
}

// x += Wdown · act(xb), xb = norm(x); llama: silu(Wgate xb) * (Wup xb); gpt2: gelu(Wup xb + b).
void Model::ffnBlock(int l, int numTokens) {
  const LayerWeights& w = weights_.layers[l];
  const int n = config_.hiddenSize, ffn = config_.intermediateSize;
  const int width = config_.family == Family::Llama ? 2 * ffn : ffn;
  norm(s_.xb.data(), s_.x.data(), w.ffnNorm, w.ffnNormBias, numTokens);
  linear(s_.xb.data(), n, numTokens, w.gateUp, w.gateUpBias, s_.hb.data(), width);
  pool_.parallelFor(numTokens, 8, [&](int begin, int end, int) { activateRows(config_, s_.hb.data(), s_.hb2.data(), begin, end); });
  linear(s_.hb2.data(), ffn, numTokens, w.down, w.downBias, s_.xb2.data(), n);
  postNormRows(config_, s_.xb2.data(), numTokens, w.ffnPostNorm);
  addInPlace(s_.x.data(), s_.xb2.data(), numTokens * n);
}

// last = final norm of the last token of each sampled sequence; returns how many.
int Model::gatherSampled(const StepBatch& batch) {
  const int n = config_.hiddenSize;
  int numSampled = 0;
  for (int s = 0; s < batch.numSeqs(); ++s) {
    if (!batch.isSampled[s]) continue;
    const float* row = s_.x.data() + size_t(batch.seqStart[s + 1] - 1) * n;
    std::memcpy(s_.xb.data() + size_t(numSampled++) * n, row, n * sizeof(float));
  }
  norm(s_.last.data(), s_.xb.data(), weights_.outputNorm, weights_.outputNormBias, numSampled);
  return numSampled;
}

}  // namespace nano
