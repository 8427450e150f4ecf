// Attention probe: the addon's attention (native/src/attention.cpp, compiled in) timed alone
// on one layer of a model shape: a chunk of C query tokens at position P of one sequence,
// and S decode streams at position P, over a KV pool filled with values. Prints one JSON
// line per case (best of repeated runs: the machine may be shared).
// Usage: attention_probe <portable|avx2|avx512> <f32|f16|bf16> <threads> <seconds> <heads> <kvHeads> <headDim>
//                        <chunk> <streams> <position>...
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "attention.h"

using namespace nano;

namespace {

constexpr int kPage = 16;

struct Case {
  std::vector<int32_t> positions, tokenSeq, pageTable, pageStart;
};

// numSeqs sequences, `len` tokens each starting at `start`, each on its own pages.
Case makeCase(int numSeqs, int start, int len, int pagesPerSeq) {
  Case c;
  c.pageStart.push_back(0);
  for (int s = 0; s < numSeqs; ++s) {
    for (int i = 0; i < len; ++i) c.positions.push_back(start + i), c.tokenSeq.push_back(s);
    for (int p = 0; p < pagesPerSeq; ++p) c.pageTable.push_back(s * pagesPerSeq + p);
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
  const KvDtype dtype = std::strcmp(argv[2], "f16") == 0 ? KvDtype::F16 : std::strcmp(argv[2], "bf16") == 0 ? KvDtype::Bf16 : KvDtype::F32;
  const int threads = std::atoi(argv[3]);
  const double seconds = std::atof(argv[4]);
  ModelConfig c;
  c.numHeads = std::atoi(argv[5]), c.numKvHeads = std::atoi(argv[6]), c.headDim = std::atoi(argv[7]);
  c.numLayers = 1, c.contextLength = 4608, c.hiddenSize = c.numHeads * c.headDim;
  const int chunk = std::atoi(argv[8]), streams = std::atoi(argv[9]);
  const int pagesPerSeq = c.contextLength / kPage;
  const int numSeqs = streams > 1 ? streams : 1;
  GemmKernel kernel;
  try {
    kernel = chooseGemmKernel(choice, WeightDtype::F32);
  } catch (const std::exception&) {
    return std::printf("{\"kernel\":\"%s\",\"supported\":false}\n", argv[1]), 0;
  }
  KvCache kv(1, numSeqs * pagesPerSeq, kPage, c.numKvHeads, c.headDim, dtype);
  const int rowWidth = c.qDim() + 2 * c.kvDim();
  const int maxTokens = std::max(chunk, streams);
  std::vector<float> qkv(size_t(std::max(maxTokens, 256)) * rowWidth);
  for (size_t i = 0; i < qkv.size(); ++i) qkv[i] = float(int(i * 2654435761u % 2001) - 1000) * 1e-3f;
  // Fill every sequence's whole context with keys and values, 256 positions at a time.
  for (int s = 0; s < numSeqs; ++s)
    for (int p0 = 0; p0 < c.contextLength; p0 += 256) {
      Case fill = makeCase(numSeqs, p0, 256, pagesPerSeq);
      std::vector<int32_t> seqOf(256, s);
      TokenPages at{fill.positions.data(), seqOf.data(), fill.pageTable.data(), fill.pageStart.data()};
      writeKv(kv, 0, c, qkv.data(), 0, 256, at);
    }
  ThreadPool pool(threads);
  AttentionScratch shape(c, kPage, kernel.isa);
  std::vector<float> scratch(size_t(threads) * shape.floatsPerThread()), out(size_t(maxTokens) * c.qDim());
  for (int i = 10; i < argc; ++i) {
    const int pos = std::atoi(argv[i]);
    const Case work = streams > 1 ? makeCase(streams, pos, 1, pagesPerSeq) : makeCase(1, pos, chunk, pagesPerSeq);
    const int n = int(work.positions.size());
    TokenPages at{work.positions.data(), work.tokenSeq.data(), work.pageTable.data(), work.pageStart.data()};
    auto once = [&] { attention(pool, kv, 0, c, shape, qkv.data(), n, at, scratch.data(), out.data()); };
    once();
    double best = 1e30;
    auto start = std::chrono::steady_clock::now();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
      auto t0 = std::chrono::steady_clock::now();
      once();
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    double attended = 0;
    for (int32_t p : work.positions) attended += p + 1;
    const double flops = 4.0 * c.numHeads * c.headDim * attended;  // q.k and p.v
    std::printf("{\"kernel\":\"%s\",\"kv\":\"%s\",\"supported\":true,\"threads\":%d,\"tokens\":%d,\"streams\":%d,"
                "\"position\":%d,\"ms\":%.4f,\"gflops\":%.2f}\n",
                kernel.name, argv[2], threads, n, streams, pos, best * 1e3, flops / best / 1e9);
  }
  return 0;
}
