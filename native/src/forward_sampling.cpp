// The step's sampling: output sizes, the sampled row of each sequence, and each row's
// sampler call with its sequence's parameters (both splits end here).
#include <algorithm>

#include "forward.h"

namespace nano {

// Sizes the outputs and maps sampled rows to sequences (before any row is sampled).
void Model::prepareSampling(const StepBatch& batch, int numSampled, StepResult& r) {
  r.topK = 0;
  for (int s = 0; s < batch.numSeqs(); ++s)
    if (batch.isSampled[s]) r.topK = std::max(r.topK, int(batch.numTopLogprobs[s]));
  r.tokens.resize(numSampled);
  r.logprobs.resize(numSampled);
  r.topIds.resize(size_t(numSampled) * r.topK);
  r.topLogprobs.resize(size_t(numSampled) * r.topK);
  for (int s = 0, row = 0; s < batch.numSeqs(); ++s)
    if (batch.isSampled[s]) s_.sampledSeq[row++] = s;
}

void Model::sampleRows(const StepBatch& batch, int rowBegin, int rowEnd, int thread, StepResult& r) {
  const int vocab = config_.vocabSize;
  SamplerScratch& scratch = *s_.samplers[thread];
  for (int row = rowBegin; row < rowEnd; ++row) {
    int s = s_.sampledSeq[row];
    SamplingParams p;
    p.temperature = batch.temperature[s];
    p.topK = batch.topK[s];
    p.topP = batch.topP[s];
    p.minP = batch.minP[s];
    p.presencePenalty = batch.presencePenalty[s];
    p.frequencyPenalty = batch.frequencyPenalty[s];
    p.repetitionPenalty = batch.repetitionPenalty[s];
    p.seed = uint64_t(batch.seed[s]);
    p.position = uint64_t(batch.positions[batch.seqStart[s + 1] - 1]) + 1;
    p.numTopLogprobs = batch.numTopLogprobs[s];
    p.bias = {batch.biasTokens.data() + batch.biasStart[s], batch.biasValues.data() + batch.biasStart[s],
              batch.biasStart[s + 1] - batch.biasStart[s]};
    if (batch.maskRow[s] >= 0) {
      if (batch.maskReady && !waitForMasks(batch.maskReady)) masksFailed_.store(true, std::memory_order_relaxed);
      else p.allowed = batch.maskData() + size_t(batch.maskRow[s]) * ((vocab + 31) / 32);
    }
    SampleOut out{&r.tokens[row], &r.logprobs[row], r.topIds.data() + size_t(row) * r.topK,
                  r.topLogprobs.data() + size_t(row) * r.topK, r.topK};
    sampleRow(gemm_.isa, s_.logits.data() + size_t(row) * vocab, vocab, p, batch.penalties[s], scratch, out);
  }
}

}  // namespace nano
