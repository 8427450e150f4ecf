#include "seq_state.h"

#include <algorithm>
#include <string>

#include "errors.h"

namespace nano {

void PenaltyCounts::add(int32_t token, bool isOutput) {
  auto [it, isNew] = index.try_emplace(token, int32_t(tokens.size()));
  if (isNew) {
    tokens.push_back(token);
    outputCounts.push_back(0);
  }
  if (isOutput) ++outputCounts[size_t(it->second)];
}

void PenaltyCounts::countAll(const int32_t* history, int length, int promptLength, std::vector<int32_t>& slotOf,
                             bool indexed) {
  clear();
  for (int i = 0; i < length; ++i) {
    int32_t& slot = slotOf[size_t(history[i])];
    if (slot < 0) {
      slot = int32_t(tokens.size());
      tokens.push_back(history[i]);
      outputCounts.push_back(0);
    }
    if (i >= promptLength) ++outputCounts[size_t(slot)];
  }
  for (int32_t t : tokens) slotOf[size_t(t)] = -1;
  if (indexed)
    for (size_t i = 0; i < tokens.size(); ++i) index.emplace(tokens[i], int32_t(i));
}

void PenaltyCounts::clear() {
  tokens.clear();
  outputCounts.clear();
  index.clear();
}

namespace {

bool hasPenalties(const StepBatch& b, int s) {
  return b.repetitionPenalty[s] != 1.0f || b.presencePenalty[s] != 0.0f || b.frequencyPenalty[s] != 0.0f;
}

std::string seqName(const StepBatch& b, int s) { return "sequence id " + std::to_string(b.seqIds[s]); }

bool contains(const std::vector<int32_t>& sorted, int32_t id) { return std::binary_search(sorted.begin(), sorted.end(), id); }

}  // namespace

void SeqTable::apply(StepBatch& b, const ExecutorOptions& o, int vocabSize) {
  if (slotOf_.size() != size_t(vocabSize)) slotOf_.assign(size_t(vocabSize), -1);
  b.penalties.assign(size_t(b.numSeqs()), nullptr);
  if (b.seqIds.empty()) {
    if (!b.seqIsNew.empty() || !b.pageKeep.empty() || !b.releaseSeqs.empty())
      fail("ERR_NATIVE_SHAPE", "seqIsNew, pageKeep and releaseSeqs need seqIds");
    applyStateless(b);
    return;
  }
  check(b, o);
  applyDelta(b);
}

void SeqTable::check(const StepBatch& b, const ExecutorOptions& o) {
  const int n = b.numSeqs();
  if (int(b.seqIds.size()) != n || int(b.seqIsNew.size()) != n || int(b.pageKeep.size()) != n)
    fail("ERR_NATIVE_SHAPE", "seqIds, seqIsNew and pageKeep must have nSeq entries");
  std::vector<int32_t>& released = released_;
  released.assign(b.releaseSeqs.begin(), b.releaseSeqs.end());
  inStep_.assign(b.seqIds.begin(), b.seqIds.end());
  std::sort(released.begin(), released.end());
  std::sort(inStep_.begin(), inStep_.end());
  if (std::adjacent_find(inStep_.begin(), inStep_.end()) != inStep_.end())
    fail("ERR_NATIVE_SEQ", "a sequence id appears twice in one step");
  found_.assign(size_t(n), nullptr);
  size_t numLiveAfter = live_.size();
  for (int32_t id : released) numLiveAfter -= live_.count(id);
  for (int s = 0; s < n; ++s) {
    const int32_t id = b.seqIds[s];
    if (id < 0) fail("ERR_NATIVE_SEQ", "seqIds[" + std::to_string(s) + "] = " + std::to_string(id) + " is negative");
    if (b.seqIsNew[s] > 1) fail("ERR_NATIVE_SHAPE", "seqIsNew must be 0 or 1");
    const int first = b.positions[b.seqStart[s]], last = b.positions[b.seqStart[s + 1] - 1];
    const int numNewPages = b.pageStart[s + 1] - b.pageStart[s];
    const int historyLength = b.historyStart[s + 1] - b.historyStart[s];
    const auto kept = live_.find(id);
    const bool isKept = kept != live_.end() && !contains(released, id);
    int keep = 0;
    if (b.seqIsNew[s]) {
      if (b.pageKeep[s] != 0) fail("ERR_NATIVE_SHAPE", "pageKeep of new " + seqName(b, s) + " must be 0");
      if ((historyLength > 0 || hasPenalties(b, s)) && historyLength != first)
        fail("ERR_NATIVE_SHAPE", "history of new " + seqName(b, s) + " must be its " + std::to_string(first) +
                                     " tokens before the run, got " + std::to_string(historyLength));
      if (b.historyPromptLen[s] < 0) fail("ERR_NATIVE_SHAPE", "historyPromptLen of " + seqName(b, s) + " must be >= 0");
      if (!isKept) ++numLiveAfter;
    } else {
      if (!isKept)
        fail("ERR_NATIVE_SEQ", seqName(b, s) + " is not kept by the executor (never started with seqIsNew, or released)");
      SeqState& st = kept->second;
      found_[size_t(s)] = &st;  // not released in this step, so applyDelta's erasures leave it in place
      if (historyLength != 0) fail("ERR_NATIVE_SHAPE", "history of " + seqName(b, s) + ": only a new sequence sends one");
      if (first != st.numFed)
        fail("ERR_NATIVE_POSITION", "run of " + seqName(b, s) + " starts at position " + std::to_string(first) +
                                        ", its kept state ends at " + std::to_string(st.numFed));
      if (hasPenalties(b, s) && !st.tracksPenalties)
        fail("ERR_NATIVE_PARAM", "penalties of " + seqName(b, s) + " were off when it started");
      keep = b.pageKeep[s];
      if (keep < 0 || size_t(keep) > st.pages.size())
        fail("ERR_NATIVE_SHAPE", "pageKeep of " + seqName(b, s) + " = " + std::to_string(keep) + " outside [0, " +
                                     std::to_string(st.pages.size()) + "] kept pages");
    }
    if (int64_t(keep) + numNewPages < int64_t(last) / o.pageSize + 1)
      fail("ERR_NATIVE_POSITION", "page table of " + seqName(b, s) + " does not cover position " + std::to_string(last));
    for (int j = b.pageStart[s]; j < b.pageStart[s + 1]; ++j)
      if (b.pageTable[j] < 0 || b.pageTable[j] >= o.numPages)
        fail("ERR_NATIVE_PAGE", "page id " + std::to_string(b.pageTable[j]) + " outside [0, " + std::to_string(o.numPages) +
                                    ") in the page table of " + seqName(b, s));
  }
  // Every kept sequence holds at least one page, so more than the pool's pages means ids are never released.
  if (numLiveAfter > size_t(o.numPages))
    fail("ERR_NATIVE_SEQ", std::to_string(numLiveAfter) + " kept sequences exceed the pool's " + std::to_string(o.numPages) +
                               " pages (release ended sequences with releaseSeqs)");
}

void SeqTable::applyDelta(StepBatch& b) {
  for (int32_t id : b.releaseSeqs) live_.erase(id);
  const int n = b.numSeqs();
  deltaPages_.swap(b.pageTable);
  b.pageTable.clear();
  for (int s = 0; s < n; ++s) {
    // A continuing sequence's state as check() found it (erasing other elements and inserting
    // new ones keeps pointers to the rest valid); a new one is looked up (or made) afresh.
    SeqState& st = found_[size_t(s)] != nullptr ? *found_[size_t(s)] : live_[b.seqIds[s]];
    const int begin = b.seqStart[s], end = b.seqStart[s + 1];
    if (b.seqIsNew[s]) {
      st.pages.clear();
      st.promptLength = b.historyPromptLen[s];
      st.tracksPenalties = hasPenalties(b, s);
      st.counts.countAll(b.historyTokens.data() + b.historyStart[s], b.historyStart[s + 1] - b.historyStart[s],
                         st.promptLength, slotOf_, true);
    } else {
      st.pages.resize(size_t(b.pageKeep[s]));
    }
    st.pages.insert(st.pages.end(), deltaPages_.begin() + b.pageStart[s], deltaPages_.begin() + b.pageStart[s + 1]);
    if (st.tracksPenalties)
      for (int i = begin; i < end; ++i) st.counts.add(b.tokens[i], b.positions[i] >= st.promptLength);
    st.numFed = b.positions[end - 1] + 1;
    b.pageStart[s] = int32_t(b.pageTable.size());
    b.pageTable.insert(b.pageTable.end(), st.pages.begin(), st.pages.end());
    b.penalties[s] = st.tracksPenalties ? &st.counts : nullptr;
  }
  b.pageStart[n] = int32_t(b.pageTable.size());
}

void SeqTable::applyStateless(StepBatch& b) {
  const int n = b.numSeqs();
  if (ephemeral_.size() < size_t(n)) ephemeral_.resize(size_t(n));
  for (int s = 0; s < n; ++s) {
    const int historyLength = b.historyStart[s + 1] - b.historyStart[s];
    if (historyLength == 0 || !hasPenalties(b, s)) continue;
    PenaltyCounts& counts = ephemeral_[size_t(s)];
    counts.countAll(b.historyTokens.data() + b.historyStart[s], historyLength, b.historyPromptLen[s], slotOf_, false);
    b.penalties[s] = &counts;
  }
}

}  // namespace nano
