// Few rows (decode): a GEMM's tiles split into one contiguous run per thread, of about equal
// weight bytes, so each thread streams one long range of memory (a chunk claimed from a
// shared counter would make both threads jump to a new address every few tens of KB, where
// the hardware prefetcher starts over). A thread claims chunks from the front of its own run;
// once it is empty, from the back of the others' (a descheduled thread's share is taken
// over, as with the shared counter). Claims shrink towards a run's end so both threads
// finish together. Which thread runs a tile never changes what it computes.
// Used by the quantized GEMM (quant_gemm.cpp) and the f32 / bf16 one (gemm.cpp).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "thread_pool.h"

namespace nano {

struct alignas(64) TileRun {
  std::atomic<uint64_t> span;  // front (low 32 bits) | back (high 32 bits): tiles [front, back) left
};

inline uint64_t spanOf(uint32_t front, uint32_t back) { return uint64_t(back) << 32 | front; }

// Claims up to `most` tiles from the front (owner) or the back (others) of `run`; false when empty.
inline bool claimTiles(TileRun& run, bool fromFront, int most, int& begin, int& end) {
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

constexpr int kMaxRuns = 16;  // the most threads splitInRuns serves

// Whether a product of m rows over `tiles` tiles on `threads` threads is split in runs (decode:
// at most 4 rows, or maxRows where the kernel streams more: gemm.h, GemmKernel::streamRows);
// otherwise the caller claims chunks from the pool's shared counter.
inline bool splitsInRuns(int m, int threads, int tiles, int maxRows = 4) {
  return m <= maxRows && threads > 1 && threads <= kMaxRuns && tiles > 1;
}

// Runs tiles [0, tiles) as runTiles(begin, end) in runs of equal weight bytes, one per thread
// (pool.size() <= kMaxRuns). eachTileBytes(f) calls f(bytes) for every tile in order.
template <class EachTileBytes, class RunTiles>
void splitInRuns(ThreadPool& pool, int tiles, int perChunk, EachTileBytes&& eachTileBytes, RunTiles&& runTiles) {
  const int threads = std::min(pool.size(), tiles);
  TileRun runs[kMaxRuns];
  size_t total = 0;
  eachTileBytes([&](size_t bytes) { total += bytes; });
  size_t sum = 0;
  int t = 0, run = 0;
  uint32_t runBegin = 0;
  eachTileBytes([&](size_t bytes) {
    sum += bytes;
    ++t;
    while (run < threads - 1 && sum * size_t(threads) >= total * size_t(run + 1)) {
      runs[run++].span.store(spanOf(runBegin, uint32_t(t)), std::memory_order_relaxed);
      runBegin = uint32_t(t);
    }
  });
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

}  // namespace nano
