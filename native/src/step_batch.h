// A step's inputs, copied off the JS typed arrays (mirrors StepInput in
// src/executor/step.ts), and its outputs (StepOutput). Both are owned by the
// Executor and reused from step to step, so steady-state steps do not allocate.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace nano {

struct PenaltyCounts;

struct StepBatch {
  std::vector<int32_t> tokens;           // (tok)
  std::vector<int32_t> positions;        // (tok)
  std::vector<int32_t> seqStart;         // (seq + 1)
  std::vector<int32_t> pageTable;        // concatenated page ids
  std::vector<int32_t> pageStart;        // (seq + 1)
  std::vector<uint8_t> isSampled;        // (seq)
  std::vector<float> temperature;        // (seq)
  std::vector<int32_t> topK;             // (seq)
  std::vector<float> topP;               // (seq)
  std::vector<float> minP;               // (seq)
  std::vector<double> seed;              // (seq)
  std::vector<float> presencePenalty;    // (seq)
  std::vector<float> frequencyPenalty;   // (seq)
  std::vector<float> repetitionPenalty;  // (seq)
  std::vector<int32_t> historyTokens;    // concatenated prompt + output tokens (with seqIds: of new sequences, before their run)
  std::vector<int32_t> historyStart;     // (seq + 1)
  std::vector<int32_t> historyPromptLen; // (seq)
  std::vector<int32_t> numTopLogprobs;   // (seq)
  std::vector<uint32_t> tokenMask;       // (masked, ceil(vocab / 32)) bit t of a row allows token t
  std::vector<int32_t> maskRow;          // (seq) row of tokenMask constraining the sampled token; -1 = none
  // Masks computed while this step's forward pass runs (optional): the rows are then read from
  // JS memory (kept alive by the binding for the step) once *maskReady is 1; -1 = abandoned.
  const uint32_t* deferredMask = nullptr;  // (masked, ceil(vocab / 32))
  size_t deferredMaskLength = 0;
  const int32_t* maskReady = nullptr;      // (1)
  const uint32_t* maskData() const { return deferredMask ? deferredMask : tokenMask.data(); }
  size_t maskLength() const { return deferredMask ? deferredMaskLength : tokenMask.size(); }
  std::vector<int32_t> biasStart;        // (seq + 1) offsets into biasTokens / biasValues
  std::vector<int32_t> biasTokens;       // concatenated logit-bias token ids
  std::vector<float> biasValues;         // their additive biases
  bool returnLogits = false;
  // Kept sequences (seq_state.h); empty seqIds = a stateless step (whole tables and histories).
  std::vector<int32_t> seqIds;           // (seq) the caller's id of each sequence
  std::vector<uint8_t> seqIsNew;         // (seq) 1 = start it afresh (pages, penalty counts)
  std::vector<int32_t> pageKeep;         // (seq) kept pages that stay; its pageTable entries follow them
  std::vector<int32_t> releaseSeqs;      // ids forgotten before the step
  // Set by SeqTable::apply: each sequence's penalty counts (null = no penalties).
  std::vector<const PenaltyCounts*> penalties;  // (seq)
  bool isStateful() const { return !seqIds.empty(); }

  int numTokens() const { return int(tokens.size()); }
  int numSeqs() const { return int(seqStart.size()) - 1; }
};

struct StepResult {
  std::vector<int32_t> tokens;     // (sampled)
  std::vector<float> logprobs;     // (sampled)
  int topK = 0;
  std::vector<int32_t> topIds;     // (sampled, topK)
  std::vector<float> topLogprobs;  // (sampled, topK)
  std::vector<float> logits;       // (sampled, vocab) only when returnLogits
};

}  // namespace nano
