// Attention probe: the addon's attention (native/src/attention.cpp, compiled in) timed alone
// on one layer of a model shape: a chunk of C query tokens at position P of one sequence,
// and S decode streams at position P, over a KV pool filled with values. Prints one JSON
// line per case (best of repeated runs: the machine may be shared).
// NANO_PROBE_LAYERS=L runs L layers per call (each its own KV, as a model's step walks them)
// and NANO_PROBE_EVICT_MB=M reads M MB between calls (a step's weights), so the K/V comes
// from memory rather than the last-level cache. NANO_PROBE_CONTEXT=N sizes each sequence's
// pages for N positions (default 4608; at least the largest position + 1), so a decode batch's
// pages lie side by side as the step profile's (bench/step-profile.ts) do; NANO_PROBE_SCATTER=1
// shuffles the page ids.
// Usage: attention_probe <portable|avx2|avx512> <f32|f16|bf16> <threads> <seconds> <heads> <kvHeads> <headDim>
//                        <chunk> <streams> <position>...
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "attention.h"

using namespace nano;

namespace {

constexpr int kPage = 16;

struct Case {
  std::vector<int32_t> positions, tokenSeq, pageTable, pageStart;
};

// numSeqs sequences, `len` tokens each starting at `start`, each on its own pages: page p of
// sequence s is pageIds[s * pagesPerSeq + p].
Case makeCase(int numSeqs, int start, int len, int pagesPerSeq, const std::vector<int32_t>& pageIds) {
  Case c;
  c.pageStart.push_back(0);
  for (int s = 0; s < numSeqs; ++s) {
    for (int i = 0; i < len; ++i) c.positions.push_back(start + i), c.tokenSeq.push_back(s);
    for (int p = 0; p < pagesPerSeq; ++p) c.pageTable.push_back(pageIds[size_t(s) * pagesPerSeq + p]);
    c.pageStart.push_back(c.pageTable.size());
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 11) return std::fprintf(stderr, "usage: see the header\n"), 2;
  const KernelChoice choice = std::strcmp(argv[1], "portable") == 0 ? KernelChoice::Portable
                              : std::strcmp(argv[1], "avx2") == 0   ? KernelChoice::Avx2
                                                                    : KernelChoice::Avx512;
  const KvDtype dtype = std::strcmp(argv[2], "f16") == 0 ? KvDtype::F16 : std::strcmp(argv[2], "bf16") == 0 ? KvDtype::Bf16 : std::strcmp(argv[2], "q8_0") == 0 ? KvDtype::Q8_0 : KvDtype::F32;
  const int threads = std::atoi(argv[3]);
  const double seconds = std::atof(argv[4]);
  ModelConfig c;
  c.numHeads = std::atoi(argv[5]), c.numKvHeads = std::atoi(argv[6]), c.headDim = std::atoi(argv[7]);
  const int numLayers = std::getenv("NANO_PROBE_LAYERS") ? std::atoi(std::getenv("NANO_PROBE_LAYERS")) : 1;
  const size_t evictFloats = size_t(std::getenv("NANO_PROBE_EVICT_MB") ? std::atof(std::getenv("NANO_PROBE_EVICT_MB")) : 0) * (1 << 18);
  std::vector<float> evict(evictFloats, 1.0f);
  float evictSum = 0;
  c.numLayers = numLayers, c.contextLength = std::getenv("NANO_PROBE_CONTEXT") ? std::atoi(std::getenv("NANO_PROBE_CONTEXT")) : 4608;
  c.contextLength = (c.contextLength + kPage - 1) / kPage * kPage;
  c.hiddenSize = c.numHeads * c.headDim;
  const int chunk = std::atoi(argv[8]), streams = std::atoi(argv[9]);
  const int pagesPerSeq = c.contextLength / kPage;
  const int numSeqs = streams > 1 ? streams : 1;
  GemmKernel kernel;
  try {
    kernel = chooseGemmKernel(choice, WeightDtype::F32);
  } catch (const std::exception&) {
    return std::printf("{\"kernel\":\"%s\",\"supported\":false}\n", argv[1]), 0;
  }
  KvCache kv(numLayers, numSeqs * pagesPerSeq, kPage, c.numKvHeads, c.headDim, dtype);
  // Page ids in order (a sequence's pages side by side), or with NANO_PROBE_SCATTER=1 a fixed
  // shuffle of them (a pool after many sequences came and went: no two pages adjacent).
  std::vector<int32_t> pageIds(size_t(numSeqs) * pagesPerSeq);
  for (size_t i = 0; i < pageIds.size(); ++i) pageIds[i] = int32_t(i);
  if (std::getenv("NANO_PROBE_SCATTER") && std::atoi(std::getenv("NANO_PROBE_SCATTER")) == 1) {
    uint64_t state = 0x9e3779b97f4a7c15ull;
    for (size_t i = pageIds.size() - 1; i > 0; --i) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      std::swap(pageIds[i], pageIds[(state >> 33) % (i + 1)]);
    }
  }
  const int rowWidth = c.qDim() + 2 * c.kvDim();
  const int maxTokens = std::max(chunk, streams);
  std::vector<float> qkv(size_t(std::max(maxTokens, 256)) * rowWidth);
  for (size_t i = 0; i < qkv.size(); ++i) qkv[i] = float(int(i * 2654435761u % 2001) - 1000) * 1e-3f;
  // Fill every sequence's whole context with keys and values, 256 positions at a time.
  for (int s = 0; s < numSeqs; ++s)
    for (int p0 = 0; p0 < c.contextLength; p0 += 256) {
      const int len = std::min(256, c.contextLength - p0);
      Case fill = makeCase(numSeqs, p0, len, pagesPerSeq, pageIds);
      std::vector<int32_t> seqOf(len, s);
      TokenPages at{fill.positions.data(), seqOf.data(), fill.pageTable.data(), fill.pageStart.data()};
      for (int l = 0; l < numLayers; ++l) writeKv(kernel.isa, kv, l, c, qkv.data(), 0, len, at);
    }
  ThreadPool pool(threads);
  AttentionScratch shape(c, kPage, kernel.isa, std::max(maxTokens, 256));
  std::vector<float> scratch(size_t(threads) * shape.floatsPerThread()), out(size_t(maxTokens) * c.qDim());
  for (int i = 10; i < argc; ++i) {
    const int pos = std::atoi(argv[i]);
    if (pos + chunk > c.contextLength) return std::fprintf(stderr, "position %d + chunk %d past NANO_PROBE_CONTEXT %d\n", pos, chunk, c.contextLength), 2;
    const Case work = streams > 1 ? makeCase(streams, pos, 1, pagesPerSeq, pageIds) : makeCase(1, pos, chunk, pagesPerSeq, pageIds);
    const int n = int(work.positions.size());
    TokenPages at{work.positions.data(), work.tokenSeq.data(), work.pageTable.data(), work.pageStart.data()};
    auto once = [&] {
      for (int l = 0; l < numLayers; ++l) attention(pool, kv, l, c, shape, qkv.data(), n, at, scratch.data(), out.data());
    };
    auto evictCache = [&] {
      for (size_t i = 0; i < evict.size(); i += 16) evictSum += evict[i];
    };
    once();
    double best = 1e30, bestCpu = 1e30;  // wall; the calling thread's CPU time (1 thread: immune to being descheduled)
    auto cpuNow = [] {
      timespec ts;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return ts.tv_sec + ts.tv_nsec * 1e-9;
    };
    auto start = std::chrono::steady_clock::now();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
      evictCache();
      auto t0 = std::chrono::steady_clock::now();
      const double c0 = cpuNow();
      once();
      bestCpu = std::min(bestCpu, cpuNow() - c0);
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    double attended = 0;
    for (int32_t p : work.positions) attended += p + 1;
    const double flops = 4.0 * numLayers * c.numHeads * c.headDim * attended;  // q.k and p.v
    uint64_t hash = 1469598103934665603ull;  // FNV-1a of the output's bits: kernels compared bitwise
    const unsigned char* bytes = reinterpret_cast<const unsigned char*>(out.data());
    for (size_t i = 0; i < size_t(n) * c.qDim() * sizeof(float); ++i) hash = (hash ^ bytes[i]) * 1099511628211ull;
    std::printf("{\"kernel\":\"%s\",\"kv\":\"%s\",\"supported\":true,\"threads\":%d,\"tokens\":%d,\"streams\":%d,"
                "\"position\":%d,\"ms\":%.4f,\"cpuMs\":%.4f,\"gflops\":%.2f,\"hash\":\"%016llx\"}\n",
                kernel.name, argv[2], threads, n, streams, pos, best * 1e3, bestCpu * 1e3, flops / best / 1e9, (unsigned long long)hash);
  }
  return evictSum < 0 ? 1 : 0;
}
