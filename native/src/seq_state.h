// What the executor keeps per sequence between steps, so a step carries only what changed:
// the page table (new page ids appended, or a tail replaced) and the penalty counts (every
// token fed through a run is counted as it arrives). A step that names its sequences
// (StepBatch::seqIds) is checked against this state before anything is changed, then
// applied: an unknown sequence, a page out of the pool, or a run that does not continue
// where its sequence stopped is refused by name and leaves the state as it was.
// A step without seqIds sends every page table and history whole (stateless).
#pragma once
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "config.h"
#include "step_batch.h"

namespace nano {

// Distinct tokens of a sequence (prompt + output), once each, and how often each was output.
struct PenaltyCounts {
  std::vector<int32_t> tokens;        // first-seen order
  std::vector<int32_t> outputCounts;  // parallel to tokens
  std::unordered_map<int32_t, int32_t> index;
  void add(int32_t token, bool isOutput);
  void clear();
  // Counts a whole history at once through a dense scratch (vocab entries, all -1 between
  // calls); `indexed`: also fill `index`, so that add() can follow (kept sequences).
  void countAll(const int32_t* history, int length, int promptLength, std::vector<int32_t>& slotOf, bool indexed);
};

struct SeqState {
  std::vector<int32_t> pages;
  PenaltyCounts counts;
  int promptLength = 0;
  int numFed = 0;            // positions [0, numFed) are known (fed or given as history)
  bool tracksPenalties = false;
};

class SeqTable {
 public:
  // Checks the step's sequence deltas against the kept state, then applies them: releases,
  // new sequences, page appends, counts of the fed tokens; fills b.pageTable / b.pageStart with
  // the whole tables the forward pass reads and b.penalties with each sequence's counts.
  // Stateless steps (no seqIds) get counts built from their histories.
  void apply(StepBatch& b, const ExecutorOptions& o, int vocabSize);
  size_t numLive() const { return live_.size(); }

 private:
  void check(const StepBatch& b, const ExecutorOptions& o);
  void applyDelta(StepBatch& b);
  void applyStateless(StepBatch& b);
  std::unordered_map<int32_t, SeqState> live_;
  std::vector<PenaltyCounts> ephemeral_;  // stateless steps' counts, reused
  std::vector<int32_t> slotOf_;           // (vocab) -1 between steps: countAll's scratch
  std::vector<int32_t> deltaPages_;       // the step's page entries, before the whole tables replace them
  // check()'s scratch, reused: the step's releases and ids sorted, and each sequence's kept
  // state as the check found it (nullptr: new), which applyDelta() then updates in place.
  std::vector<int32_t> released_, inStep_;
  std::vector<SeqState*> found_;
};

}  // namespace nano
