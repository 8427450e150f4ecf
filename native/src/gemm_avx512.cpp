// AVX-512 GEMM kernels, compiled for AVX-512 through a target pragma around the
// kernels only (so no shared inline function gets an AVX-512 copy) and chosen at run
// time. A micro-tile is up to 6 rows x one 64-column block: 24 zmm accumulators,
// one fma chain per element over k in order (the block / K slice / row walk is the
// shared driver of gemm_tiles.h), so the result is the same for any tile shape and
// any M, and equal to the AVX2 kernel's. bf16 weights are widened to f32 (exact).
#include "gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <utility>

#pragma GCC push_options
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positive on _mm512_setzero_ps
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")

#include "gemm_avx512_tile.h"

namespace nano {

namespace {

constexpr int kMaxRows = 6;
// Weights of one block per K slice (a strip is the whole block), and how the row tiles prefetch
// the weights that follow the strip, by CPU vendor:
// - AMD (and others): 32 KiB slices, and every row tile prefetches the next strip into L1 as it
//   reads this one's (tuned on Zen 5: 75-84 % of its FMA peak).
// - Intel: whole K (slices up to 1 MiB: every K here). On an Intel Xeon (family 6 model 167,
//   48 KiB L1d, 2 MiB L2), 2 threads, 2026-12-04, the 32 KiB slice plus the next strip's 32 KiB
//   prefetched into L1 overflowed the L1: one block's layers at 40-53 % of the FMA peak at
//   M = 32-512, 62-72 % with whole K (the strip is read from L2 by each row tile; fewer y round
//   trips). Up to kStreamedRows rows (gemm.h; batched decode: the weights come from DRAM) the
//   row tiles share the prefetch of the next strip into L2, each taking every numTiles-th k; with
//   more rows (prefill) nothing is prefetched: the groups re-read the strip from L2 anyway.
//   2026-12-04, same CPU, medium's weights at M = 32: all layers 167 -> 219 GFLOP/s, the LM
//   head 200 -> 303, one block 300 -> 324 (prefill M = 512 unchanged). README: "f32 GEMM
//   against the FMA peak".
constexpr int kAmdSliceBytes = 32 * 1024;
constexpr int kIntelSliceBytes = 1024 * 1024;

enum class Prefetch { None, NextStripL1, SharedL2 };

// Panels per 64-byte cache line of weights: one (f32) or two (bf16).
template <class W>
constexpr int kLinePanels = int(64 / (kPanelWidth * sizeof(W)));

inline __m512 loadWeights(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 loadWeights(const uint16_t* p) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// R rows x P panels: y[r, p*16 + j] (+)= sum over the slice's k of x[r, k] * w[k, p*16 + j],
// prefetching the weights after the strip (s.next, at this unit's offset) as `Mode` says.
template <class W, Prefetch Mode>
struct F32Tiles {
  template <int R, int P>
  struct Tile {
    static void run(const float* x, int ldx, const W* w, int stride, int k, const float* bias, float* y, int ldy,
                    int cols, Slice s) {
      __m512 acc[R][P];
      startTile(acc, y, ldy, cols, s);
      const W* next = static_cast<const W*>(s.next);
      int untilShare = s.tile;  // SharedL2: units until this tile's next share of the prefetch
      for (int kk = 0; kk < k; ++kk) {
        __m512 b[P];
        for (int p = 0; p < P; ++p) b[p] = loadWeights(w + size_t(kk) * stride + p * kPanelWidth);
        // NextStripL1: the tiles of more than one row (one row streams in order: the hardware
        // prefetcher keeps up). SharedL2: unit kk when kk = tile (mod numTiles); a counter, as a
        // division in the loop keeps the accumulators from staying in registers.
        if (Mode == Prefetch::NextStripL1 && R > 1 && next)
          for (int p = 0; p < P; p += kLinePanels<W>)
            _mm_prefetch(reinterpret_cast<const char*>(next + size_t(kk) * stride + p * kPanelWidth), _MM_HINT_T0);
        if (Mode == Prefetch::SharedL2 && next && untilShare-- == 0) {
          for (int p = 0; p < P; p += kLinePanels<W>)
            _mm_prefetch(reinterpret_cast<const char*>(next + size_t(kk) * stride + p * kPanelWidth), _MM_HINT_T1);
          untilShare = s.numTiles - 1;
        }
        for (int r = 0; r < R; ++r) {
          __m512 a = _mm512_set1_ps(x[size_t(r) * ldx + kk]);
          for (int p = 0; p < P; ++p) acc[r][p] = _mm512_fmadd_ps(a, b[p], acc[r][p]);
        }
      }
      storeTile(acc, bias, y, ldy, cols, s);
    }
  };
};

template <bool Intel, class W>
void panels(const float* x, int ldx, int m, const PackedMatrix& w, const W* data, int panelBegin, int panelEnd,
            const float* bias, float* y, int ldy) {
  const TileOperands<float, W> o{x, ldx, m, data, w.k, 1, Intel ? kIntelSliceBytes : kAmdSliceBytes, nullptr, bias, y, ldy};
  if (!Intel) walkPanels<F32Tiles<W, Prefetch::NextStripL1>::template Tile, kMaxRows>(w, panelBegin, panelEnd, o);
  else if (m <= kStreamedRows) walkPanels<F32Tiles<W, Prefetch::SharedL2>::template Tile, kMaxRows>(w, panelBegin, panelEnd, o);
  else walkPanels<F32Tiles<W, Prefetch::None>::template Tile, kMaxRows>(w, panelBegin, panelEnd, o);
}

template <bool Intel>
void avx512Panels(const float* x, int ldx, int m, const PackedMatrix& w, int panelBegin, int panelEnd,
                  const float* bias, float* y, int ldy) {
  markBuild(CloneFamily::Gemm, Build::Avx512);
  if (w.dtype == WeightDtype::F32) panels<Intel>(x, ldx, m, w, w.f32.data(), panelBegin, panelEnd, bias, y, ldy);
  else panels<Intel>(x, ldx, m, w, w.bf16.data(), panelBegin, panelEnd, bias, y, ldy);
}

}  // namespace

}  // namespace nano

#pragma GCC pop_options

namespace nano {

GemmKernel avx512GemmKernel() {
  const bool intel = gemmTunesForIntel();
  GemmKernel kernel{"avx512", intel ? avx512Panels<true> : avx512Panels<false>, Isa::Avx512};
  kernel.streamRows = intel ? kStreamedRows : 0;  // the shared L2 prefetch reads each thread's own next block
  return kernel;
}

}  // namespace nano

#else

namespace nano {
GemmKernel avx512GemmKernel() { return portableGemmKernel(); }
}  // namespace nano

#endif
