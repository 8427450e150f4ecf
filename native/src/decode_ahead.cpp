#include "decode_ahead.h"

namespace nano {

constexpr int kMaxAheadSeqs = 1;  // single-stream decode; a batch's membership changes too often to guess

bool canDecodeAhead(const StepBatch& b, const StepResult& r, const ModelConfig& c, int pageSize) {
  const int n = b.numSeqs();
  if (n < 1 || n > kMaxAheadSeqs || b.numTokens() != n || int(r.tokens.size()) != n) return false;
  if (b.deferredMask || b.maskReady) return false;
  for (int s = 0; s < n; ++s) {
    if (b.seqStart[s + 1] - b.seqStart[s] != 1 || !b.isSampled[s] || b.maskRow[s] >= 0) return false;
    if (b.biasStart[s + 1] != b.biasStart[s] || b.penalties[s] != nullptr) return false;
    const int next = b.positions[s] + 1, pages = b.pageStart[s + 1] - b.pageStart[s];
    if (next >= c.contextLength || next / pageSize >= pages) return false;
  }
  return true;
}

void nextDecodeStep(const StepBatch& b, const StepResult& r, StepBatch& next) {
  if (&next != &b) next = b;
  for (int s = 0; s < b.numSeqs(); ++s) {
    next.tokens[s] = r.tokens[s];
    next.positions[s] = b.positions[s] + 1;
  }
  next.seqIsNew.assign(next.seqIsNew.size(), 0);
  next.releaseSeqs.clear();
  next.historyTokens.clear();
  next.historyStart.assign(next.historyStart.size(), 0);
}

bool isSameStep(const StepBatch& a, const StepBatch& b) {
  if (a.deferredMask || b.deferredMask || a.maskReady || b.maskReady) return false;
  for (size_t s = 0; s < b.penalties.size(); ++s)
    if (b.penalties[s] != nullptr) return false;
  return a.tokens == b.tokens && a.positions == b.positions && a.seqStart == b.seqStart && a.pageTable == b.pageTable &&
         a.pageStart == b.pageStart && a.isSampled == b.isSampled && a.temperature == b.temperature && a.topK == b.topK &&
         a.topP == b.topP && a.minP == b.minP && a.seed == b.seed && a.presencePenalty == b.presencePenalty &&
         a.frequencyPenalty == b.frequencyPenalty && a.repetitionPenalty == b.repetitionPenalty &&
         a.numTopLogprobs == b.numTopLogprobs && a.maskRow == b.maskRow && a.biasStart == b.biasStart &&
         a.biasTokens == b.biasTokens && a.biasValues == b.biasValues && a.returnLogits == b.returnLogits &&
         a.penalties.size() == b.penalties.size();
}

}  // namespace nano
