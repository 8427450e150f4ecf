// AVX-512 GEMM kernels, compiled for AVX-512 through a target pragma around the
// kernels only (so no shared inline function gets an AVX-512 copy) and chosen at run
// time. A micro-tile is up to 6 rows x one 64-column block: 24 zmm accumulators,
// one fma chain per element over k in order. K is walked in slices so a block's
// weights stay in L1; between slices the partial sums go through y unchanged (a
// float store and reload is exact), so the chain, and the result, is the same for
// any tile shape and any M. bf16 weights are widened to f32 on the fly (exact).
#include "gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <utility>

#pragma GCC push_options
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positive on _mm512_setzero_ps
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")

namespace nano {

namespace {

constexpr int kMaxRows = 6;
constexpr int kSliceBytes = 32 * 1024;  // weights of one block per K slice

inline __m512 loadWeights(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 loadWeights(const uint16_t* p) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

inline __mmask16 panelMask(int cols, int p) {
  int left = cols - p * kPanelWidth;
  return left >= kPanelWidth ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
}

struct Slice {
  bool isFirst;       // start the chains at zero (else continue from y)
  bool isLast;        // add the bias and leave the final value in y
};

// R rows x P panels: y[r, p*16 + j] (+)= sum over the slice's k of x[r, k] * w[k, p*16 + j].
template <int R, int P, class W>
void tile(const float* x, int ldx, const W* w, int k, const float* bias, float* y, int ldy, int cols, Slice s) {
  __m512 acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p)
      acc[r][p] = s.isFirst ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(panelMask(cols, p), y + size_t(r) * ldy + p * 16);
  for (int kk = 0; kk < k; ++kk) {
    __m512 b[P];
    for (int p = 0; p < P; ++p) b[p] = loadWeights(w + size_t(kk) * P * kPanelWidth + p * kPanelWidth);
    for (int r = 0; r < R; ++r) {
      __m512 a = _mm512_set1_ps(x[size_t(r) * ldx + kk]);
      for (int p = 0; p < P; ++p) acc[r][p] = _mm512_fmadd_ps(a, b[p], acc[r][p]);
    }
  }
  for (int p = 0; p < P; ++p) {
    __mmask16 mask = panelMask(cols, p);
    __m512 add = s.isLast && bias ? _mm512_maskz_loadu_ps(mask, bias + p * kPanelWidth) : _mm512_setzero_ps();
    for (int r = 0; r < R; ++r) {
      __m512 out = s.isLast && bias ? _mm512_add_ps(acc[r][p], add) : acc[r][p];
      _mm512_mask_storeu_ps(y + size_t(r) * ldy + p * kPanelWidth, mask, out);
    }
  }
}

template <class W>
using TileFn = void (*)(const float*, int, const W*, int, const float*, float*, int, int, Slice);

template <class W>
struct TileTable {
  TileFn<W> fn[kMaxRows][kBlockPanels] = {};
  TileTable() { fillRows(std::make_integer_sequence<int, kMaxRows>()); }
  template <int... R>
  void fillRows(std::integer_sequence<int, R...>) {
    (fillPanels<R + 1>(std::make_integer_sequence<int, kBlockPanels>()), ...);
  }
  template <int R, int... P>
  void fillPanels(std::integer_sequence<int, P...>) {
    ((fn[R - 1][P] = &tile<R, P + 1, W>), ...);
  }
};

template <class W>
void blocks(const float* x, int ldx, int m, const PackedMatrix& w, const W* data, int blockBegin, int blockEnd,
            const float* bias, float* y, int ldy) {
  static const TileTable<W> table;
  const int sliceK = kSliceBytes / int(kBlockPanels * kPanelWidth * sizeof(W));
  for (int b = blockBegin; b < blockEnd; ++b) {
    const int numPanels = w.blockPanels(b);
    const int col = b * kBlockPanels * kPanelWidth;
    const int cols = w.n - col < numPanels * kPanelWidth ? w.n - col : numPanels * kPanelWidth;
    const W* block = data + w.blockOffset(b);
    for (int k0 = 0; k0 < w.k; k0 += sliceK) {
      const int k = w.k - k0 < sliceK ? w.k - k0 : sliceK;
      const Slice slice{k0 == 0, k0 + k == w.k};
      for (int r = 0; r < m; r += kMaxRows) {
        const int rows = m - r < kMaxRows ? m - r : kMaxRows;
        table.fn[rows - 1][numPanels - 1](x + size_t(r) * ldx + k0, ldx, block + size_t(k0) * numPanels * kPanelWidth,
                                          k, bias ? bias + col : nullptr, y + size_t(r) * ldy + col, ldy, cols, slice);
      }
    }
  }
}

void avx512Blocks(const float* x, int ldx, int m, const PackedMatrix& w, int blockBegin, int blockEnd,
                  const float* bias, float* y, int ldy) {
  if (w.dtype == WeightDtype::F32) blocks(x, ldx, m, w, w.f32.data(), blockBegin, blockEnd, bias, y, ldy);
  else blocks(x, ldx, m, w, w.bf16.data(), blockBegin, blockEnd, bias, y, ldy);
}

}  // namespace

}  // namespace nano

#pragma GCC pop_options

namespace nano {

GemmKernel avx512GemmKernel() { return {"avx512", avx512Blocks}; }

}  // namespace nano

#else

namespace nano {
GemmKernel avx512GemmKernel() { return portableGemmKernel(); }
}  // namespace nano

#endif
