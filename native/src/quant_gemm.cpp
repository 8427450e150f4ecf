#include "quant_gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "quant_acts.h"

namespace nano {

namespace {

constexpr int kTileColumns = 16;  // one 16-column group (two of 8); 32 read medium Q4_K_M slower at M = 1

int tilesOf(const QuantPart& p) { return (p.rows + kTileColumns - 1) / kTileColumns; }

int numTiles(const QuantMatrix& w) {
  int total = 0;
  for (const QuantPart& p : w.parts) total += tilesOf(p);
  return total;
}

// Runs tile `tile` (counted over all parts in order) for all m rows.
void runTile(const QuantKernel& kernel, const QuantMatrix& w, int tile, const uint8_t* acts, int m, const float* bias,
             float* y, int ldy) {
  for (const QuantPart& p : w.parts) {
    const int tiles = tilesOf(p);
    if (tile < tiles) {
      const int begin = p.rowBegin + tile * kTileColumns;
      kernel.run(w, p, acts, m, begin, std::min(begin + kTileColumns, p.rowBegin + p.rows), bias, y, ldy);
      return;
    }
    tile -= tiles;
  }
}

// Tiles per claimed chunk: a chunk of about kChunkWork weight bytes times rows (a claim is an
// atomic on a line both cores write: at one row a 16-column tile of a 768-wide matrix is a
// few hundred ns of work, no more than the claim), while leaving at least 4 chunks per thread
// so a descheduled thread's share is taken over by the others.
constexpr size_t kChunkWork = size_t(48) << 10;

int tilesPerChunk(const QuantMatrix& w, int numTiles, int m, int numThreads) {
  const size_t tileWork = std::max<size_t>(1, w.bytes() / size_t(numTiles) * size_t(m));
  const int byWork = int(std::max<size_t>(1, kChunkWork / tileWork));
  const int byThreads = std::max(1, numTiles / (4 * numThreads));
  return std::min(byWork, byThreads);
}

// Few rows (decode): the tiles are split into one contiguous run per thread, of about equal
// weight bytes, so each thread streams one long range of memory (a chunk claimed from a
// shared counter would make both threads jump to a new address every few tens of KB, where
// the hardware prefetcher starts over). A thread claims chunks from the front of its own run;
// once it is empty, from the back of the others' (a descheduled thread's share is taken
// over, as with the shared counter). Claims shrink towards a run's end so both threads
// finish together. Which thread runs a tile never changes what it computes.
constexpr int kFewRows = 4;

struct alignas(64) TileRun {
  std::atomic<uint64_t> span;  // front (low 32 bits) | back (high 32 bits): tiles [front, back) left
};

inline uint64_t spanOf(uint32_t front, uint32_t back) { return uint64_t(back) << 32 | front; }

// Claims up to `most` tiles from the front (owner) or the back (others) of `run`; false when empty.
bool claimTiles(TileRun& run, bool fromFront, int most, int& begin, int& end) {
  uint64_t s = run.span.load(std::memory_order_relaxed);
  for (;;) {
    const uint32_t front = uint32_t(s), back = uint32_t(s >> 32);
    if (front >= back) return false;
    const uint32_t take = std::max<uint32_t>(1, std::min<uint32_t>(uint32_t(most), (back - front) / 4));
    const uint64_t next = fromFront ? spanOf(front + take, back) : spanOf(front, back - take);
    if (run.span.compare_exchange_weak(s, next, std::memory_order_relaxed)) {
      begin = int(fromFront ? front : back - take);
      end = int(fromFront ? front + take : back);
      return true;
    }
  }
}

constexpr int kMaxRuns = 16;

template <class RunTiles>
void splitInRuns(ThreadPool& pool, const QuantMatrix& w, int tiles, int perChunk, RunTiles&& runTiles) {
  const int threads = std::min(pool.size(), tiles);
  TileRun runs[kMaxRuns];
  // Run boundaries at equal shares of the weight bytes (parts of several block types differ per tile).
  auto tileBytes = [](const QuantPart& p) { return p.rowBytes * size_t(p.interleaved ? kTileColumns / p.groupColumns : kTileColumns); };
  size_t total = 0;
  for (const QuantPart& p : w.parts) total += tileBytes(p) * size_t(tilesOf(p));
  size_t sum = 0;
  int t = 0, run = 0;
  uint32_t runBegin = 0;
  for (const QuantPart& p : w.parts) {
    for (int i = 0; i < tilesOf(p); ++i, ++t) {
      sum += tileBytes(p);
      while (run < threads - 1 && sum * size_t(threads) >= total * size_t(run + 1)) {
        runs[run++].span.store(spanOf(runBegin, uint32_t(t + 1)), std::memory_order_relaxed);
        runBegin = uint32_t(t + 1);
      }
    }
  }
  for (; run < threads; ++run) {
    runs[run].span.store(spanOf(runBegin, uint32_t(tiles)), std::memory_order_relaxed);
    runBegin = uint32_t(tiles);
  }
  pool.forEachChunk(threads, [&](int home, int) {
    int begin, end;
    while (claimTiles(runs[home], true, perChunk, begin, end)) runTiles(begin, end);
    for (int o = 1; o < threads; ++o)
      while (claimTiles(runs[(home + o) % threads], false, perChunk, begin, end)) runTiles(begin, end);
  });
}

bool envIs(const char* env, const char* value) { return env && std::strcmp(env, value) == 0; }

}  // namespace

QuantKernel chooseQuantKernel(KernelChoice choice) {
  const char* env = std::getenv("NANO_SERVING_KERNEL");
  if (choice == KernelChoice::Portable || envIs(env, "portable")) return portableQuantKernel();
  // Forced paths (tests, benches); each falls back to the next one down when the CPU lacks it.
  const bool capAvx2 = choice == KernelChoice::Avx2 || envIs(env, "avx2"), capAvxVnni = envIs(env, "avx-vnni");
  if (!capAvx2 && !capAvxVnni && avx512VnniQuantAvailable()) return avx512VnniQuantKernel();
  if (!capAvx2 && avxVnniQuantAvailable()) return avxVnniQuantKernel();
  if (avx2QuantAvailable()) return avx2QuantKernel();
  return portableQuantKernel();
}

void quantGemm(ThreadPool& pool, const QuantKernel& kernel, const float* x, int ldx, int m, const QuantMatrix& w,
               const float* bias, float* y, int ldy, uint8_t* scratch) {
  if (m <= 0) return;
  const size_t rowBytes = quantActRowBytes(w.k);
  const bool q8_0 = w.needsQ8_0(), q8k = w.needsQ8K();
  pool.parallelFor(m, 8, [&](int begin, int end, int) {
    kernel.quantize(x + size_t(begin) * ldx, ldx, end - begin, w.k, q8_0, q8k, scratch + begin * rowBytes);
  });
  const int tiles = numTiles(w), perChunk = tilesPerChunk(w, tiles, m, pool.size());
  if (m <= kFewRows && pool.size() > 1 && pool.size() <= kMaxRuns && tiles > 1) {
    return splitInRuns(pool, w, tiles, perChunk, [&](int begin, int end) {
      for (int t = begin; t < end; ++t) runTile(kernel, w, t, scratch, m, bias, y, ldy);
    });
  }
  pool.forEachChunk((tiles + perChunk - 1) / perChunk, [&](int chunk, int) {
    for (int t = chunk * perChunk; t < std::min(tiles, (chunk + 1) * perChunk); ++t) runTile(kernel, w, t, scratch, m, bias, y, ldy);
  });
}

void quantGemmSerial(const QuantKernel& kernel, const float* x, int ldx, int m, const QuantMatrix& w,
                     const float* bias, float* y, int ldy, uint8_t* scratch) {
  if (m <= 0) return;
  kernel.quantize(x, ldx, m, w.k, w.needsQ8_0(), w.needsQ8K(), scratch);
  const int tiles = numTiles(w);
  for (int t = 0; t < tiles; ++t) runTile(kernel, w, t, scratch, m, bias, y, ldy);
}

}  // namespace nano
