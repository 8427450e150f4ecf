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
    for (int r = begin; r < end; ++r) normRow(gemm_.isa, config_, out + size_t(r) * n, in + size_t(r) * n, w, b);
  });
}

// x = the embedding of every token, and xb = layer 0's attention norm of it, row by row over the pool.
void Model::embed(const StepBatch& batch) {
  for (int s = 0; s < batch.numSeqs(); ++s)
    for (int i = batch.seqStart[s]; i < batch.seqStart[s + 1]; ++i) s_.tokenSeq[i] = s;
  const int n = config_.hiddenSize;
  const LayerWeights& w0 = weights_.layers[0];
  pool_.parallelFor(batch.numTokens(), 16, [&](int begin, int end, int) {
    embedRows(gemm_.isa, config_, weights_, batch, s_.x.data(), begin, end);
    for (int r = begin; r < end; ++r) normRow(gemm_.isa, config_, s_.xb.data() + size_t(r) * n, s_.x.data() + size_t(r) * n, w0.attnNorm, w0.attnNormBias);
  });
}

// The end of a block, row by row over the pool: x += post-norm(xb2) (Gemma's post-norm, else
// xb2 as it is), then xb = the next block's norm of x when there is a next block (nextNorm).
// Each row's operations and their order are those of the separate passes they replace.
void Model::residual(int numTokens, const AlignedVec<float>& postNorm, const AlignedVec<float>* nextNorm,
                     const AlignedVec<float>* nextNormBias) {
  const int n = config_.hiddenSize;
  pool_.parallelFor(numTokens, 16, [&](int begin, int end, int) {
    for (int r = begin; r < end; ++r) {
      float* x = s_.x.data() + size_t(r) * n;
      float* out = s_.xb2.data() + size_t(r) * n;
      postNormRows(gemm_.isa, config_, out, 1, postNorm);
      addInPlace(gemm_.isa, x, out, n);
      if (nextNorm) normRow(gemm_.isa, config_, s_.xb.data() + size_t(r) * n, x, *nextNorm, *nextNormBias);
    }
  });
}

// x += Wo · attention(rope(Wq xb), rope(Wk xb), Wv xb), with xb = norm(x) already in place
// (embed or the previous block's residual); ends with xb = the FFN norm of the new x.
void Model::attentionBlock(int l, const StepBatch& batch) {
  const LayerWeights& w = weights_.layers[l];
  const int numTokens = batch.numTokens(), n = config_.hiddenSize;
  const int rowWidth = config_.qDim() + 2 * config_.kvDim();
  {
    ProfileScope scope(profile_, StepRegion::Gemm);
    linear(s_.xb.data(), n, numTokens, w.qkv, w.qkvBias, s_.qkv.data(), rowWidth);
  }
  TokenPages where{batch.positions.data(), s_.tokenSeq.data(), batch.pageTable.data(), batch.pageStart.data()};
  {
    // Each token's q / k rotation and its K / V slots are its own, so tokens split freely.
    ProfileScope scope(profile_, StepRegion::RowOps);
    pool_.parallelFor(numTokens, 16, [&](int begin, int end, int) {
      prepareQk(l, batch, begin, end);
      writeKv(gemm_.isa, kv_, l, config_, s_.qkv.data(), begin, end, where);
    });
  }
  {
    ProfileScope scope(profile_, StepRegion::Attention);
    attention(pool_, kv_, l, config_, s_.attShape, s_.qkv.data(), numTokens, where, s_.scores.data(), s_.att.data());
  }
  {
    ProfileScope scope(profile_, StepRegion::Gemm);
    linear(s_.att.data(), config_.qDim(), numTokens, w.attnOut, w.attnOutBias, s_.xb2.data(), n);
  }
  ProfileScope scope(profile_, StepRegion::RowOps);
  residual(numTokens, w.attnPostNorm, &w.ffnNorm, &w.ffnNormBias);
}

// x += Wdown · act(xb), xb = norm(x) already in place; llama: silu(Wgate xb) * (Wup xb); gpt2:
// gelu(Wup xb + b). Ends with xb = the next layer's attention norm of the new x (none after the last).
void Model::ffnBlock(int l, int numTokens) {
  const LayerWeights& w = weights_.layers[l];
  const int n = config_.hiddenSize, ffn = config_.intermediateSize;
  const int width = config_.family == Family::Llama ? 2 * ffn : ffn;
  {
    ProfileScope scope(profile_, StepRegion::Gemm);
    linear(s_.xb.data(), n, numTokens, w.gateUp, w.gateUpBias, s_.hb.data(), width);
  }
  {
    ProfileScope scope(profile_, StepRegion::RowOps);
    pool_.parallelFor(numTokens, 8, [&](int begin, int end, int) { activateRows(gemm_.isa, config_, s_.hb.data(), s_.hb2.data(), begin, end); });
  }
  {
    ProfileScope scope(profile_, StepRegion::Gemm);
    linear(s_.hb2.data(), ffn, numTokens, w.down, w.downBias, s_.xb2.data(), n);
  }
  const bool isLast = l + 1 == config_.numLayers;
  const LayerWeights* next = isLast ? nullptr : &weights_.layers[l + 1];
  ProfileScope scope(profile_, StepRegion::RowOps);
  residual(numTokens, w.ffnPostNorm, next ? &next->attnNorm : nullptr, next ? &next->attnNormBias : nullptr);
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
