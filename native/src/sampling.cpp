#include "sampling.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "fast_math.h"
#include "seq_state.h"

namespace nano {

SamplerScratch::SamplerScratch(int vocabSize)
    : work(vocabSize), ids(vocabSize) {}

static uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

bool waitForMasks(const int32_t* ready) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  for (int spins = 0;; ++spins) {
    int32_t value = __atomic_load_n(ready, __ATOMIC_ACQUIRE);
    if (value != 0) return value == 1;
    if (spins < 2048) continue;
    if (Clock::now() - start > std::chrono::seconds(60)) return false;
    if (spins < 4096) std::this_thread::yield();
    else std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

double counterUniform(uint64_t seed, uint64_t position) {
  uint64_t bits = splitmix64(splitmix64(seed) ^ (position * 0xD1B54A32D192ED03ull));
  return double(bits >> 11) * (1.0 / 9007199254740992.0);
}

namespace {

// The two vocabulary-wide loops, built three times (AVX-512, AVX2, baseline) from one body each;
// the step's Isa picks the build (a forced kernel runs no wider code). The max is exact and the
// exp and the sum do the same IEEE operations per lane in each build, so the pick changes no bit.
#define NANO_SAMPLING_BUILDS(TARGET, ISA, SUFFIX)                                        \
  TARGET static float maxOfRow##SUFFIX(const float* x, int n) {                          \
    markClone(CloneFamily::Sampling, ISA);                                               \
    return maxOf(x, n);                                                                  \
  }                                                                                      \
  TARGET static float expShifted##SUFFIX(float* scratch, const float* x, int n, float shift) { \
    markClone(CloneFamily::Sampling, ISA);                                               \
    for (int i = 0; i < n; ++i) scratch[i] = expFast(x[i] - shift);                      \
    return sumFixed(scratch, n);                                                         \
  }
NANO_SAMPLING_BUILDS(__attribute__((target("avx512f"))), Isa::Avx512, Avx512)
NANO_SAMPLING_BUILDS(__attribute__((target("avx2"))), Isa::Avx2, Avx2)
NANO_SAMPLING_BUILDS(, Isa::Portable, Baseline)

// Max of x.
float maxOfRow(Isa isa, const float* x, int n) {
  if (isa == Isa::Avx512) return maxOfRowAvx512(x, n);
  if (isa == Isa::Avx2) return maxOfRowAvx2(x, n);
  return maxOfRowBaseline(x, n);
}

// scratch[i] = exp(x[i] - shift); returns their fixed-order sum.
float expShifted(Isa isa, float* scratch, const float* x, int n, float shift) {
  if (isa == Isa::Avx512) return expShiftedAvx512(scratch, x, n, shift);
  if (isa == Isa::Avx2) return expShiftedAvx2(scratch, x, n, shift);
  return expShiftedBaseline(scratch, x, n, shift);
}

// log(sum(exp(x))), using scratch (n).
float logSumExp(Isa isa, const float* x, int n, float* scratch) {
  float maxValue = maxOfRow(isa, x, n);
  if (!std::isfinite(maxValue)) return maxValue;
  return maxValue + std::log(expShifted(isa, scratch, x, n, maxValue));
}

// Repetition (prompt + output, once per distinct token), then presence/frequency (output);
// each token's logit is changed on its own, so the order of the distinct tokens does not matter.
void applyPenalties(float* logits, const SamplingParams& p, const PenaltyCounts& c) {
  if (p.repetitionPenalty != 1.0f) {
    for (int32_t t : c.tokens) logits[t] = logits[t] > 0 ? logits[t] / p.repetitionPenalty : logits[t] * p.repetitionPenalty;
  }
  if (p.presencePenalty != 0.0f || p.frequencyPenalty != 0.0f) {
    for (size_t i = 0; i < c.tokens.size(); ++i) {
      if (c.outputCounts[i] == 0) continue;
      logits[c.tokens[i]] -= p.presencePenalty + p.frequencyPenalty * float(c.outputCounts[i]);
    }
  }
}

// Disallowed tokens get -inf, before temperature and truncation, so no path can pick them.
void applyTokenMask(float* logits, int n, const uint32_t* allowed) {
  for (int w = 0; w * 32 < n; ++w) {
    uint32_t bits = allowed[w];
    if (bits == 0xFFFFFFFFu) continue;
    const int end = std::min(n, w * 32 + 32);
    for (int t = w * 32; t < end; ++t)
      if (!((bits >> (t - w * 32)) & 1u)) logits[t] = -INFINITY;
  }
}

// Lowest id among the largest values (a vectorized max, then the first match).
int argmax(Isa isa, const float* x, int n) {
  const float best = maxOfRow(isa, x, n);
  for (int i = 0; i < n; ++i)
    if (x[i] == best) return i;
  return 0;  // all NaN
}

// Ensures ids[0..want) are the `want` most probable, sorted (prob desc, id asc).
void sortPrefix(std::vector<int32_t>& ids, const float* probs, int want) {
  auto better = [probs](int32_t a, int32_t b) { return probs[a] > probs[b] || (probs[a] == probs[b] && a < b); };
  std::partial_sort(ids.begin(), ids.begin() + want, ids.end(), better);
}

// Draws from probs (unnormalized) restricted to candidates; returns the token.
int draw(const float* probs, const int32_t* candidates, int count, float threshold, double u) {
  double mass = 0;
  for (int i = 0; i < count; ++i) {
    float q = probs[candidates ? candidates[i] : i];
    if (q >= threshold) mass += q;
  }
  double target = u * mass, cumulative = 0;
  int last = -1;
  for (int i = 0; i < count; ++i) {
    int id = candidates ? candidates[i] : i;
    if (probs[id] < threshold) continue;
    cumulative += probs[id];
    last = id;
    if (cumulative > target) return id;
  }
  return last;
}

int sampleStochastic(Isa isa, float* logits, int n, const SamplingParams& p, SamplerScratch& s) {
  // Softmax (unnormalized: the max maps to 1).
  for (int i = 0; i < n; ++i) logits[i] /= p.temperature;
  float maxLogit = maxOfRow(isa, logits, n);
  if (!std::isfinite(maxLogit)) return argmax(isa, logits, n);
  double total = expShifted(isa, logits, logits, n, maxLogit);
  const float* probs = logits;
  double u = counterUniform(p.seed, p.position);
  float threshold = p.minP > 0 ? p.minP * 1.0f : 0.0f;  // min-p relative to the max probability (= 1 here)
  bool topK = p.topK > 0 && p.topK < n;
  if (!topK && p.topP >= 1.0f) return draw(probs, nullptr, n, threshold, u);

  for (int i = 0; i < n; ++i) s.ids[i] = i;
  int limit = topK ? p.topK : n;
  int sorted = topK ? limit : std::min(limit, 64);
  sortPrefix(s.ids, probs, sorted);
  double mass = total;
  if (topK) {
    mass = 0;
    for (int i = 0; i < limit; ++i) mass += probs[s.ids[i]];
  }
  int keep = limit;
  if (p.topP < 1.0f) {
    // Smallest prefix whose mass reaches topP of the (top-k) mass; sort more if needed.
    double cumulative = 0;
    int i = 0;
    for (;;) {
      for (; i < sorted; ++i) {
        cumulative += probs[s.ids[i]];
        if (cumulative >= double(p.topP) * mass) break;
      }
      if (i < sorted || sorted == limit) break;
      int more = std::min(limit, sorted * 4);
      sortPrefix(s.ids, probs, more);
      sorted = more;
    }
    keep = std::min(i + 1, limit);
  }
  return draw(probs, s.ids.data(), keep, threshold, u);
}

// The numTop best raw logits, best first (ties: lowest id), as logprobs.
void topLogprobs(const float* raw, int n, float lse, const SampleOut& out, int numTop) {
  int filled = 0;
  for (int i = 0; i < n && numTop > 0; ++i) {
    if (filled == numTop && !(raw[i] > raw[out.topIds[filled - 1]])) continue;
    int at = filled < numTop ? filled++ : numTop - 1;
    while (at > 0 && raw[i] > raw[out.topIds[at - 1]]) {
      out.topIds[at] = out.topIds[at - 1];
      --at;
    }
    out.topIds[at] = i;
  }
  for (int j = 0; j < out.topK; ++j) {
    if (j < filled) {
      out.topLogprobs[j] = raw[out.topIds[j]] - lse;
    } else {
      out.topIds[j] = -1;
      out.topLogprobs[j] = -INFINITY;
    }
  }
}

}  // namespace

void sampleRow(Isa isa, const float* raw, int n, const SamplingParams& p, const PenaltyCounts* penalties, SamplerScratch& s,
               const SampleOut& out) {
  float* work = s.work.data();
  std::copy(raw, raw + n, work);
  if (penalties) applyPenalties(work, p, *penalties);
  for (int i = 0; i < p.bias.length; ++i) work[p.bias.tokens[i]] += p.bias.values[i];
  if (p.allowed) applyTokenMask(work, n, p.allowed);
  int token = p.temperature == 0.0f ? argmax(isa, work, n) : sampleStochastic(isa, work, n, p, s);
  float lse = logSumExp(isa, raw, n, work);  // work is free again
  *out.token = token;
  *out.logprob = raw[token] - lse;
  topLogprobs(raw, n, lse, out, std::min(p.numTopLogprobs, n));
}

}  // namespace nano
