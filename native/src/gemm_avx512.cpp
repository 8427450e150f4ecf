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
constexpr int kSliceBytes = 32 * 1024;  // weights of one block per K slice (a strip is the whole block)

// Panels per 64-byte cache line of weights: one (f32) or two (bf16).
template <class W>
constexpr int kLinePanels = int(64 / (kPanelWidth * sizeof(W)));

inline __m512 loadWeights(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 loadWeights(const uint16_t* p) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// R rows x P panels: y[r, p*16 + j] (+)= sum over the slice's k of x[r, k] * w[k, p*16 + j].
template <class W>
struct F32Tiles {
  template <int R, int P>
  struct Tile {
    static void run(const float* x, int ldx, const W* w, int stride, int k, const float* bias, float* y, int ldy,
                    int cols, Slice s) {
      __m512 acc[R][P];
      startTile(acc, y, ldy, cols, s);
      const W* next = static_cast<const W*>(s.next);
      for (int kk = 0; kk < k; ++kk) {
        __m512 b[P];
        for (int p = 0; p < P; ++p) b[p] = loadWeights(w + size_t(kk) * stride + p * kPanelWidth);
        if (R > 1 && next)  // the next strip's weights at this unit's offset (one row streams in order: the hardware prefetcher keeps up)
          for (int p = 0; p < P; p += kLinePanels<W>)
            _mm_prefetch(reinterpret_cast<const char*>(next + size_t(kk) * stride + p * kPanelWidth), _MM_HINT_T0);
        for (int r = 0; r < R; ++r) {
          __m512 a = _mm512_set1_ps(x[size_t(r) * ldx + kk]);
          for (int p = 0; p < P; ++p) acc[r][p] = _mm512_fmadd_ps(a, b[p], acc[r][p]);
        }
      }
      storeTile(acc, bias, y, ldy, cols, s);
    }
  };
};

template <class W>
void panels(const float* x, int ldx, int m, const PackedMatrix& w, const W* data, int panelBegin, int panelEnd,
            const float* bias, float* y, int ldy) {
  const TileOperands<float, W> o{x, ldx, m, data, w.k, 1, kSliceBytes, nullptr, bias, y, ldy};
  walkPanels<F32Tiles<W>::template Tile, kMaxRows>(w, panelBegin, panelEnd, o);
}

void avx512Panels(const float* x, int ldx, int m, const PackedMatrix& w, int panelBegin, int panelEnd,
                  const float* bias, float* y, int ldy) {
  markBuild(CloneFamily::Gemm, Build::Avx512);
  if (w.dtype == WeightDtype::F32) panels(x, ldx, m, w, w.f32.data(), panelBegin, panelEnd, bias, y, ldy);
  else panels(x, ldx, m, w, w.bf16.data(), panelBegin, panelEnd, bias, y, ldy);
}

}  // namespace

}  // namespace nano

#pragma GCC pop_options

namespace nano {

GemmKernel avx512GemmKernel() { return {"avx512", avx512Panels, Isa::Avx512}; }

}  // namespace nano

#else

namespace nano {
GemmKernel avx512GemmKernel() { return portableGemmKernel(); }
}  // namespace nano

#endif
