// The split by sequences: the WHOLE forward pass, sampling included, for groups of whole
// sequences, one group per pool chunk (one barrier per step). For models whose weights sit
// in L2 and batches of many short runs (decode).
#include <algorithm>

#include "forward.h"
#include "forward_rows.h"
#include "layer_extras.h"

namespace nano {

// Groups whole sequences into chunks of about equal cost (a token's GEMMs, plus one unit per
// attended position); false when the step is better split by layers (few or lopsided chunks).
bool Model::planSequenceChunks(const StepBatch& batch) {
  if (!sequenceSplitAllowed_) return false;
  const int numSeqs = batch.numSeqs(), numThreads = pool_.size();
  constexpr double kTokenCost = 32;  // attended positions that cost about as much as a token's GEMMs
  auto cost = [&](int s) {
    int begin = batch.seqStart[s], end = batch.seqStart[s + 1];
    double first = batch.positions[begin] + 1, last = batch.positions[end - 1] + 1;
    return (end - begin) * kTokenCost + (first + last) * (end - begin) / 2;
  };
  s_.chunkStart.clear();
  s_.chunkStart.push_back(0);
  double total = 0;
  for (int s = 0; s < numSeqs; ++s) total += cost(s);
  // At least 16 chunks even on one thread: see the chunk order in step().
  const double target = total / std::max(16, 8 * numThreads);
  constexpr int kMinChunkTokens = 8;  // fewer rows make the GEMMs mostly weight traffic
  double inChunk = 0, largest = 0;
  int tokensInChunk = 0;
  for (int s = 0; s < numSeqs; ++s) {
    inChunk += cost(s);
    tokensInChunk += batch.seqStart[s + 1] - batch.seqStart[s];
    if ((inChunk >= target && tokensInChunk >= kMinChunkTokens) || s == numSeqs - 1) {
      s_.chunkStart.push_back(s + 1);
      largest = std::max(largest, inChunk);
      inChunk = 0;
      tokensInChunk = 0;
    }
  }
  const int numChunks = int(s_.chunkStart.size()) - 1;
  if (numThreads == 1 || sequenceSplitForced_) return true;
  return numChunks >= 2 * numThreads && largest * numThreads <= total;
}

// The whole forward pass, final norm, output head and sampling for sequences [seqBegin, seqEnd)
// on the calling thread. Every buffer is indexed by token (or sampled) row, so chunks of
// different sequences never touch the same memory; xPairs rows are pairStride apart here.
void Model::forwardSequences(const StepBatch& batch, int seqBegin, int seqEnd, int t, StepResult& result) {
  const ModelConfig& c = config_;
  const int i0 = batch.seqStart[seqBegin], i1 = batch.seqStart[seqEnd], m = i1 - i0;
  const int n = c.hiddenSize, ffn = c.intermediateSize, qDim = c.qDim();
  const int rowWidth = qDim + 2 * c.kvDim();
  const int width = c.family == Family::Llama ? 2 * ffn : ffn;
  uint16_t* pairs = s_.xPairs.empty() ? nullptr : s_.xPairs.data() + size_t(i0) * s_.pairStride;
  auto bias = [](const AlignedVec<float>& b) { return b.empty() ? nullptr : b.data(); };
  float* x = s_.x.data() + size_t(i0) * n;
  float* xb = s_.xb.data() + size_t(i0) * n;
  float* xb2 = s_.xb2.data() + size_t(i0) * n;
  float* qkv = s_.qkv.data() + size_t(i0) * rowWidth;
  float* att = s_.att.data() + size_t(i0) * qDim;
  float* hb = s_.hb.data() + size_t(i0) * width;
  float* hb2 = s_.hb2.data() + size_t(i0) * ffn;
  float* scores = s_.scores.data() + size_t(t) * s_.attShape.floatsPerThread();

  embedRows(gemm_.isa, c, weights_, batch, s_.x.data(), i0, i1);
  for (int s = seqBegin; s < seqEnd; ++s)
    for (int i = batch.seqStart[s]; i < batch.seqStart[s + 1]; ++i) s_.tokenSeq[i] = s;
  TokenPages where{batch.positions.data(), s_.tokenSeq.data(), batch.pageTable.data(), batch.pageStart.data()};

  for (int l = 0; l < c.numLayers; ++l) {
    const LayerWeights& w = weights_.layers[l];
    for (int r = 0; r < m; ++r) normRow(gemm_.isa, c, xb + size_t(r) * n, x + size_t(r) * n, w.attnNorm, w.attnNormBias);
    gemmSerial(gemm_, xb, n, m, w.qkv, bias(w.qkvBias), qkv, rowWidth, pairs);
    prepareQk(l, batch, i0, i1);
    writeKv(gemm_.isa, kv_, l, c, s_.qkv.data(), i0, i1, where);
    attendTokens(kv_, l, c, s_.attShape, s_.qkv.data(), i0, i1, where, scores, s_.att.data());
    gemmSerial(gemm_, att, qDim, m, w.attnOut, bias(w.attnOutBias), xb2, n, pairs);
    postNormRows(gemm_.isa, c, xb2, m, w.attnPostNorm);
    addInPlace(gemm_.isa, x, xb2, m * n);
    for (int r = 0; r < m; ++r) normRow(gemm_.isa, c, xb + size_t(r) * n, x + size_t(r) * n, w.ffnNorm, w.ffnNormBias);
    gemmSerial(gemm_, xb, n, m, w.gateUp, bias(w.gateUpBias), hb, width, pairs);
    activateRows(gemm_.isa, c, s_.hb.data(), s_.hb2.data(), i0, i1);
    gemmSerial(gemm_, hb2, ffn, m, w.down, bias(w.downBias), xb2, n, pairs);
    postNormRows(gemm_.isa, c, xb2, m, w.ffnPostNorm);
    addInPlace(gemm_.isa, x, xb2, m * n);
  }

  const int r0 = s_.sampledBefore[seqBegin], r1 = s_.sampledBefore[seqEnd];
  for (int s = seqBegin; s < seqEnd; ++s) {
    if (!batch.isSampled[s]) continue;
    normRow(gemm_.isa, c, s_.last.data() + size_t(s_.sampledBefore[s]) * n, s_.x.data() + size_t(batch.seqStart[s + 1] - 1) * n,
            weights_.outputNorm, weights_.outputNormBias);
  }
  gemmSerial(gemm_, s_.last.data() + size_t(r0) * n, n, r1 - r0, weights_.output, nullptr,
             s_.logits.data() + size_t(r0) * c.vocabSize, c.vocabSize, pairs);
  softcapLogits(r0, r1);
  sampleRows(batch, r0, r1, t, result);
}

}  // namespace nano
