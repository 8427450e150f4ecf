// AVX2 + FMA GEMM kernel for CPUs without AVX-512 (compiled through a target pragma,
// chosen at run time). Same packed layout and driver (gemm_tiles.h) as the AVX-512
// kernel; 16 ymm registers hold 12 accumulators: 1 row x 64 columns (decode), 2 rows x
// 32 columns, or 3..6 rows x 16 columns, a block walked in passes of that width. Each
// y element is one fma chain over k in order from zero, bias added last: the same
// chain as the AVX-512 kernel, so both give bitwise the same y for any M or split.
#include "gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <utility>

#pragma GCC push_options
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positive on _mm256_setzero_ps
#pragma GCC target("avx2,fma")

#include "gemm_tiles.h"

namespace nano {

namespace {

constexpr int kMaxRows = 6;
// Panels per strip for a tile of R rows, so R x 2P vectors fit 12 accumulators: 1 x 64
// columns, 2 x 32, 3..6 x 16.
constexpr int kStripPanels[kMaxRows] = {4, 2, 1, 1, 1, 1};
// A strip's weights per K slice. Up to 48 rows (one row group: batched decode), every weight is
// read from memory once per call and the next strip is prefetched a slice ahead: 16 KiB slices
// (256 k for a 16-column strip) keep that prefetch close. With more rows (prefill) a strip is
// read by the tiles of every group from L2 anyway (a 16-column strip of a 64-column block is one
// line per k, 256 bytes apart: a quarter of the L1's sets), so whole K (up to 1024 units) costs
// fewer y round trips and calls. A/B on Zen 5, 2 threads: whole K +5 % at M = 512, -4 % at
// M = 32 with medium's weights from DRAM.
constexpr int kStreamSliceBytes = 16 * 1024;
constexpr int kReuseSliceBytes = 64 * 1024;
// How the row tiles of a streamed call prefetch the next strip, by CPU vendor:
// - AMD (and others): up to one 48-row group, every tile of more than one row, into L1 (tuned
//   on Zen 5; with more rows too, in the 64 KiB slices).
// - Intel: up to kStreamedRows rows (gemm.h; 16 KiB slices up to there too) shared, each tile
//   every numTiles-th k, into L2, with the columns in one run per thread (gemm.cpp) so that the
//   next strip is the thread's own. On an Intel Xeon (family 6 model 167,
//   48 KiB L1d, 2 MiB L2), 2 threads, 2026-12-04, gemm probe under SCHED_FIFO, M = 32: medium's
//   layers from DRAM 124 -> 146 GFLOP/s, its LM head 149 -> 165, one block 145 -> 192.
enum class Prefetch { NextStripL1, SharedL2 };
constexpr int kLanes = 8;

inline __m256 loadWeights(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 loadWeights(const uint16_t* p) {  // bf16 -> f32 is exact: the bits go to the top half
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// Lane mask of the first `left` columns of a vector (all lanes when left >= 8).
inline __m256i laneMask(int left) {
  alignas(32) static const int32_t window[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  const int n = left >= kLanes ? kLanes : left <= 0 ? 0 : left;
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(window + kLanes - n));
}

// y vectors of a pass: plain loads and stores when the pass covers whole vectors (every pass
// but a narrow last block's), masked ones at the edge (vmaskmovps stores are slow on AMD).
template <bool Full>
inline __m256 loadY(const float* p, int left) {
  return Full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, laneMask(left));
}
template <bool Full>
inline void storeY(float* p, int left, __m256 v) {
  if (Full) _mm256_storeu_ps(p, v);
  else _mm256_maskstore_ps(p, laneMask(left), v);
}

// R rows x V vectors (8 columns each) of a block whose rows are `stride` W elements wide;
// `cols` counts the valid columns from this pass's first one (Full: cols >= 8 V). Every
// row tile prefetches the next strip's weights as it reads this one's, as `Mode` says (the first
// tile's requests alone overrun the misses the core can track, and the repeats cost a load slot).
template <int R, int V, bool Full, Prefetch Mode, class W>
inline void pass(const float* x, int ldx, const W* w, const W* next, int stride, int k, const float* bias, float* y,
                 int ldy, int cols, Slice s) {
  constexpr int kLineVectors = int(64 / (kLanes * sizeof(W)));
  __m256 acc[R][V];
  if (s.isFirst) {
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < V; ++v) acc[r][v] = _mm256_setzero_ps();
  } else {
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < V; ++v) acc[r][v] = loadY<Full>(y + size_t(r) * ldy + v * kLanes, cols - v * kLanes);
  }
  int untilShare = s.tile;  // SharedL2: units until this tile's next share of the prefetch
  for (int kk = 0; kk < k; ++kk) {
    __m256 b[V];
    for (int v = 0; v < V; ++v) b[v] = loadWeights(w + size_t(kk) * stride + v * kLanes);
    if (Mode == Prefetch::NextStripL1 && R > 1 && next)  // one row streams the weights in order: the hardware prefetcher keeps up
      for (int v = 0; v < V; v += kLineVectors)
        _mm_prefetch(reinterpret_cast<const char*>(next + size_t(kk) * stride + v * kLanes), _MM_HINT_T0);
    if (Mode == Prefetch::SharedL2 && next && untilShare-- == 0) {  // a counter: see gemm_avx512.cpp
      for (int v = 0; v < V; v += kLineVectors)
        _mm_prefetch(reinterpret_cast<const char*>(next + size_t(kk) * stride + v * kLanes), _MM_HINT_T1);
      untilShare = s.numTiles - 1;
    }
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_set1_ps(x[size_t(r) * ldx + kk]);
      for (int v = 0; v < V; ++v) acc[r][v] = _mm256_fmadd_ps(a, b[v], acc[r][v]);
    }
  }
  if (s.isLast && bias) {
    for (int v = 0; v < V; ++v) {
      const __m256 add = loadY<Full>(bias + v * kLanes, cols - v * kLanes);
      for (int r = 0; r < R; ++r) acc[r][v] = _mm256_add_ps(acc[r][v], add);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) storeY<Full>(y + size_t(r) * ldy + v * kLanes, cols - v * kLanes, acc[r][v]);
}

template <class W, Prefetch Mode>
struct Avx2Tiles {
  // R rows x P panels (2P vectors) in passes of C vectors: R * C <= 12 accumulators (the
  // driver's strips make it one pass).
  template <int R, int P>
  struct Tile {
    static constexpr int kVectors = 2 * P;
    static constexpr int kPass = R == 1 ? kVectors : R == 2 ? (kVectors < 4 ? kVectors : 4) : 2;
    template <int V0>
    static void passesFrom(const float* x, int ldx, const W* w, int stride, int k, const float* bias, float* y,
                           int ldy, int cols, Slice s) {
      if constexpr (V0 < kVectors) {
        constexpr int width = kVectors - V0 < kPass ? kVectors - V0 : kPass;
        const int left = cols - V0 * kLanes;
        if (left <= 0) return;  // padding columns only
        const W* next = s.next ? static_cast<const W*>(s.next) + V0 * kLanes : nullptr;
        const float* b = bias ? bias + V0 * kLanes : nullptr;
        if (left >= width * kLanes) pass<R, width, true, Mode>(x, ldx, w + V0 * kLanes, next, stride, k, b, y + V0 * kLanes, ldy, left, s);
        else pass<R, width, false, Mode>(x, ldx, w + V0 * kLanes, next, stride, k, b, y + V0 * kLanes, ldy, left, s);
        passesFrom<V0 + width>(x, ldx, w, stride, k, bias, y, ldy, cols, s);
      }
    }
    static void run(const float* x, int ldx, const W* w, int stride, int k, const float* bias, float* y, int ldy,
                    int cols, Slice s) {
      passesFrom<0>(x, ldx, w, stride, k, bias, y, ldy, cols, s);
    }
  };
};

template <bool Intel, class W>
void panels(const float* x, int ldx, int m, const PackedMatrix& w, const W* data, int panelBegin, int panelEnd,
            const float* bias, float* y, int ldy) {
  const bool isStreamed = m <= (Intel ? kStreamedRows : kGroupRows<kMaxRows>);
  const TileOperands<float, W> o{x, ldx, m, data, w.k, 1, isStreamed ? kStreamSliceBytes : kReuseSliceBytes, kStripPanels, bias, y, ldy};
  if (Intel && isStreamed) walkPanels<Avx2Tiles<W, Prefetch::SharedL2>::template Tile, kMaxRows>(w, panelBegin, panelEnd, o);
  else walkPanels<Avx2Tiles<W, Prefetch::NextStripL1>::template Tile, kMaxRows>(w, panelBegin, panelEnd, o);
}

template <bool Intel>
void avx2Panels(const float* x, int ldx, int m, const PackedMatrix& w, int panelBegin, int panelEnd, const float* bias,
                float* y, int ldy) {
  markBuild(CloneFamily::Gemm, Build::Avx2);
  if (w.dtype == WeightDtype::F32) panels<Intel>(x, ldx, m, w, w.f32.data(), panelBegin, panelEnd, bias, y, ldy);
  else panels<Intel>(x, ldx, m, w, w.bf16.data(), panelBegin, panelEnd, bias, y, ldy);
}

}  // namespace

}  // namespace nano

#pragma GCC pop_options

namespace nano {

bool avx2GemmAvailable() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

GemmKernel avx2GemmKernel() {
  const bool intel = gemmTunesForIntel();
  GemmKernel kernel{"avx2", intel ? avx2Panels<true> : avx2Panels<false>, Isa::Avx2};
  kernel.splitPanels = 1;  // the 3..6-row tiles' strip
  kernel.streamRows = intel ? kStreamedRows : 0;  // the shared L2 prefetch reads each thread's own next strip
  return kernel;
}

}  // namespace nano

#else

namespace nano {
bool avx2GemmAvailable() { return false; }
GemmKernel avx2GemmKernel() { return portableGemmKernel(); }
}  // namespace nano

#endif
