#include "step_validation.h"

#include <cmath>
#include <string>

#include "errors.h"

namespace nano {

namespace {

std::string at(const char* what, int seq) { return std::string(what) + " of sequence " + std::to_string(seq); }

// offsets: (seq + 1), starting at 0, non-decreasing (strictly if nonEmpty), ending at total.
void checkOffsets(const std::vector<int32_t>& offsets, int numSeqs, size_t total, const char* name, bool nonEmpty) {
  if (int(offsets.size()) != numSeqs + 1) fail("ERR_NATIVE_SHAPE", std::string(name) + " must have nSeq + 1 entries");
  if (offsets[0] != 0) fail("ERR_NATIVE_SHAPE", std::string(name) + "[0] must be 0");
  for (int s = 0; s < numSeqs; ++s) {
    bool ok = nonEmpty ? offsets[s + 1] > offsets[s] : offsets[s + 1] >= offsets[s];
    if (!ok) fail("ERR_NATIVE_SHAPE", std::string(name) + " must be increasing (" + at("run", s) + ")");
  }
  if (size_t(offsets[numSeqs]) != total)
    fail("ERR_NATIVE_SHAPE", std::string(name) + "[nSeq] must equal the length of its array");
}

void checkPerSeqLengths(const StepBatch& b, int n) {
  size_t lengths[] = {b.isSampled.size(),        b.temperature.size(),      b.topK.size(),
                      b.topP.size(),             b.minP.size(),             b.seed.size(),
                      b.presencePenalty.size(),  b.frequencyPenalty.size(), b.repetitionPenalty.size(),
                      b.historyPromptLen.size(), b.numTopLogprobs.size(), b.maskRow.size()};
  for (size_t len : lengths)
    if (len != size_t(n)) fail("ERR_NATIVE_SHAPE", "per-sequence arrays must have nSeq entries");
}

void checkTokens(const std::vector<int32_t>& tokens, int vocab, const char* name) {
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= vocab)
      fail("ERR_NATIVE_TOKEN", std::string(name) + "[" + std::to_string(i) + "] = " + std::to_string(tokens[i]) +
                                   " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
}

void checkRun(const StepBatch& b, int s, const ModelConfig& c, const ExecutorOptions& o) {
  int first = b.seqStart[s], last = b.seqStart[s + 1] - 1;
  for (int i = first; i <= last; ++i) {
    int pos = b.positions[i];
    if (pos < 0 || pos >= c.contextLength)
      fail("ERR_NATIVE_POSITION", "position " + std::to_string(pos) + " outside [0, " +
                                      std::to_string(c.contextLength) + ") in " + at("run", s));
    if (i > first && pos != b.positions[i - 1] + 1)
      fail("ERR_NATIVE_POSITION", "positions are not consecutive in " + at("run", s));
  }
  if (b.isStateful()) return;  // pages are checked against the kept tables (seq_state.cpp)
  int64_t pagesNeeded = int64_t(b.positions[last]) / o.pageSize + 1;
  if (b.pageStart[s + 1] - b.pageStart[s] < pagesNeeded)
    fail("ERR_NATIVE_POSITION", "page table of sequence " + std::to_string(s) + " does not cover position " +
                                    std::to_string(b.positions[last]));
  for (int j = b.pageStart[s]; j < b.pageStart[s + 1]; ++j)
    if (b.pageTable[j] < 0 || b.pageTable[j] >= o.numPages)
      fail("ERR_NATIVE_PAGE", "page id " + std::to_string(b.pageTable[j]) + " outside [0, " +
                                  std::to_string(o.numPages) + ") in " + at("page table", s));
}

void checkParams(const StepBatch& b, int s) {
  auto bad = [s](const char* what) { fail("ERR_NATIVE_PARAM", std::string(what) + " (" + at("sampling", s) + ")"); };
  if (b.isSampled[s] > 1) fail("ERR_NATIVE_SHAPE", "isSampled must be 0 or 1");
  int histLen = b.historyStart[s + 1] - b.historyStart[s];
  if (!b.isStateful() && (b.historyPromptLen[s] < 0 || b.historyPromptLen[s] > histLen))
    fail("ERR_NATIVE_SHAPE", "historyPromptLen must be in [0, history length] for sequence " + std::to_string(s));
  if (!b.isSampled[s]) return;  // parameters of a run that samples nothing are ignored
  if (!(std::isfinite(b.temperature[s]) && b.temperature[s] >= 0)) bad("temperature must be finite and >= 0");
  if (!(std::isfinite(b.topP[s]) && b.topP[s] > 0 && b.topP[s] <= 1)) bad("topP must be in (0, 1]");
  if (!(std::isfinite(b.minP[s]) && b.minP[s] >= 0 && b.minP[s] <= 1)) bad("minP must be in [0, 1]");
  if (b.topK[s] < 0) bad("topK must be >= 0");
  if (!(std::isfinite(b.repetitionPenalty[s]) && b.repetitionPenalty[s] > 0)) bad("repetitionPenalty must be > 0");
  if (!std::isfinite(b.presencePenalty[s])) bad("presencePenalty must be finite");
  if (!std::isfinite(b.frequencyPenalty[s])) bad("frequencyPenalty must be finite");
  double seed = b.seed[s];
  if (!(std::isfinite(seed) && seed >= 0 && seed <= 9007199254740991.0 && std::floor(seed) == seed))
    bad("seed must be an integer in [0, 2^53 - 1]");
  if (b.numTopLogprobs[s] < 0 || b.numTopLogprobs[s] > 20) bad("numTopLogprobs must be in [0, 20]");
}

// Each mask row is ceil(vocab / 32) words; a sampled sequence's row allows at least one token.
void checkTokenMasks(const StepBatch& b, int vocab) {
  const size_t words = (size_t(vocab) + 31) / 32;
  if (b.maskLength() % words != 0)
    fail("ERR_NATIVE_SHAPE", "tokenMask length must be a multiple of ceil(vocab / 32) = " + std::to_string(words));
  const int64_t rows = int64_t(b.maskLength() / words);
  for (int s = 0; s < b.numSeqs(); ++s) {
    int64_t row = b.maskRow[s];
    if (row < -1 || row >= rows)
      fail("ERR_NATIVE_SHAPE", "maskRow[" + std::to_string(s) + "] = " + std::to_string(row) + " outside [-1, " +
                                   std::to_string(rows) + ")");
    if (row < 0 || !b.isSampled[s] || b.deferredMask) continue;  // deferred masks are not written yet
    const uint32_t* mask = b.tokenMask.data() + size_t(row) * words;
    uint32_t any = 0;
    for (size_t w = 0; w + 1 < words; ++w) any |= mask[w];
    any |= mask[words - 1] & (vocab % 32 ? (1u << (vocab % 32)) - 1 : ~0u);  // bits past the vocabulary do not count
    if (!any) fail("ERR_NATIVE_PARAM", "token mask of sequence " + std::to_string(s) + " allows no token");
  }
}

}  // namespace

void validateStep(const StepBatch& b, const ModelConfig& c, const ExecutorOptions& o) {
  int numSeqs = b.numSeqs(), numTokens = b.numTokens();
  if (numSeqs < 1) fail("ERR_NATIVE_SHAPE", "a step needs at least one sequence (seqStart.length >= 2)");
  if (numSeqs > o.maxSeqs)
    fail("ERR_NATIVE_SHAPE", std::to_string(numSeqs) + " sequences exceed maxSeqs " + std::to_string(o.maxSeqs));
  if (numTokens > o.maxBatchTokens)
    fail("ERR_NATIVE_SHAPE",
         std::to_string(numTokens) + " tokens exceed maxBatchTokens " + std::to_string(o.maxBatchTokens));
  if (b.positions.size() != b.tokens.size()) fail("ERR_NATIVE_SHAPE", "positions and tokens differ in length");
  checkOffsets(b.seqStart, numSeqs, b.tokens.size(), "seqStart", true);
  checkOffsets(b.pageStart, numSeqs, b.pageTable.size(), "pageStart", false);
  checkOffsets(b.historyStart, numSeqs, b.historyTokens.size(), "historyStart", false);
  checkPerSeqLengths(b, numSeqs);
  checkTokens(b.tokens, c.vocabSize, "tokens");
  checkTokens(b.historyTokens, c.vocabSize, "historyTokens");
  for (int s = 0; s < numSeqs; ++s) checkRun(b, s, c, o);
  for (int s = 0; s < numSeqs; ++s) checkParams(b, s);
  checkTokenMasks(b, c.vocabSize);
  checkOffsets(b.biasStart, numSeqs, b.biasTokens.size(), "biasStart", false);
  if (b.biasValues.size() != b.biasTokens.size()) fail("ERR_NATIVE_SHAPE", "biasValues and biasTokens differ in length");
  checkTokens(b.biasTokens, c.vocabSize, "biasTokens");
  for (float v : b.biasValues)
    if (!std::isfinite(v)) fail("ERR_NATIVE_PARAM", "biasValues must be finite");
}

}  // namespace nano
