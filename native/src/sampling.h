// Turning one row of logits into a token, natively: penalties, temperature,
// top-k / top-p / min-p, and a draw from a counter-based uniform keyed only by
// (seed, position), so a request's samples never depend on the rest of the batch.
#pragma once
#include <cstdint>
#include <vector>

#include "isa.h"

namespace nano {

struct LogitBias {
  const int32_t* tokens = nullptr;
  const float* values = nullptr;
  int length = 0;
};

struct SamplingParams {
  float temperature = 0;  // 0 = greedy
  int topK = 0;           // 0 = off
  float topP = 1;         // 1 = off
  float minP = 0;         // 0 = off
  float presencePenalty = 0, frequencyPenalty = 0, repetitionPenalty = 1;
  uint64_t seed = 0;
  uint64_t position = 0;  // position of the token being generated
  int numTopLogprobs = 0;
  const uint32_t* allowed = nullptr;  // (ceil(vocab / 32)) bit t allows token t; null = every token
  LogitBias bias;                     // added to the logits after penalties, before the mask
};

struct PenaltyCounts;  // seq_state.h

// Per-thread scratch, sized for the vocabulary once.
struct SamplerScratch {
  explicit SamplerScratch(int vocabSize);
  std::vector<float> work;     // (vocab) penalized, then probabilities
  std::vector<int32_t> ids;    // (vocab) candidate order
};

struct SampleOut {
  int32_t* token;
  float* logprob;
  int32_t* topIds;       // (topK) best first, padded with -1
  float* topLogprobs;    // (topK) padded with -inf
  int topK;              // row width of the top arrays
};

// `penalties`: the sequence's distinct tokens and output counts; null = no penalties. `isa`: the
// build of the vocabulary-wide loops (the step's kernel's, gemm.h); every build gives the same bits.
void sampleRow(Isa isa, const float* logits, int vocabSize, const SamplingParams& params, const PenaltyCounts* penalties,
               SamplerScratch& scratch, const SampleOut& out);

// Waits until *ready is non-zero (spinning briefly, then yielding and sleeping; at most 60 s);
// true if it became 1 (the masks were written), false if -1 (abandoned) or never.
bool waitForMasks(const int32_t* ready);

// Uniform in [0, 1) from a splitmix64 hash of (seed, position).
double counterUniform(uint64_t seed, uint64_t position);

}  // namespace nano
