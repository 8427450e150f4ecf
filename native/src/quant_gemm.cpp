#include "quant_gemm.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "quant_acts.h"
#include "tile_runs.h"

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
  if (splitsInRuns(m, pool.size(), tiles)) {  // few rows (decode): one contiguous run of tiles per thread
    // Run boundaries at equal shares of the weight bytes (parts of several block types differ per tile).
    auto eachTileBytes = [&](auto&& f) {
      for (const QuantPart& p : w.parts) {
        const size_t bytes = p.rowBytes * size_t(p.interleaved ? kTileColumns / p.groupColumns : kTileColumns);
        for (int i = 0; i < tilesOf(p); ++i) f(bytes);
      }
    };
    return splitInRuns(pool, tiles, perChunk, eachTileBytes, [&](int begin, int end) {
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
