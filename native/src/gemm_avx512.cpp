// AVX-512 GEMM kernels (this file alone is compiled with -mavx512*; chosen at run
// time). A micro-tile is up to 6 rows x 4 panels (64 columns): 24 zmm accumulators,
// one fma chain per element over k in order, so the result per row is the same
// whatever the tile shape. bf16 weights are widened to f32 on the fly (exact), so
// they halve the bytes read and sum exactly like f32 weights of the same values.
#include "gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace nano {

namespace {

constexpr int kMaxRows = 6;
constexpr int kMaxPanels = 4;

inline __m512 loadWeights(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 loadWeights(const uint16_t* p) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

template <int R, int P, class W>
void tile(const float* x, int ldx, const W* panel, size_t panelStride, int k, const float* bias, float* y,
          int ldy, int cols) {
  __m512 acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();
  for (int kk = 0; kk < k; ++kk) {
    __m512 w[P];
    for (int p = 0; p < P; ++p) w[p] = loadWeights(panel + p * panelStride + size_t(kk) * kPanelWidth);
    for (int r = 0; r < R; ++r) {
      __m512 a = _mm512_set1_ps(x[size_t(r) * ldx + kk]);
      for (int p = 0; p < P; ++p) acc[r][p] = _mm512_fmadd_ps(a, w[p], acc[r][p]);
    }
  }
  for (int p = 0; p < P; ++p) {
    int left = cols - p * kPanelWidth;
    __mmask16 mask = left >= kPanelWidth ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
    __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + p * kPanelWidth) : _mm512_setzero_ps();
    for (int r = 0; r < R; ++r) {
      __m512 out = bias ? _mm512_add_ps(acc[r][p], b) : acc[r][p];
      _mm512_mask_storeu_ps(y + size_t(r) * ldy + p * kPanelWidth, mask, out);
    }
  }
}

template <class W>
using TileFn = void (*)(const float*, int, const W*, size_t, int, const float*, float*, int, int);

template <class W, int R, int... P>
constexpr void fillRow(TileFn<W> (&row)[kMaxPanels], std::integer_sequence<int, P...>) {
  ((row[P] = &tile<R, P + 1, W>), ...);
}

template <class W>
struct TileTable {
  TileFn<W> fn[kMaxRows][kMaxPanels] = {};
  TileTable() { fill(std::make_integer_sequence<int, kMaxRows>()); }
  template <int... R>
  void fill(std::integer_sequence<int, R...>) {
    (fillRow<W, R + 1>(fn[R], std::make_integer_sequence<int, kMaxPanels>()), ...);
  }
};

template <class W>
void panels(const float* x, int ldx, int m, const PackedMatrix& w, const W* data, int panelBegin, int panelEnd,
            const float* bias, float* y, int ldy) {
  static const TileTable<W> table;
  for (int p = panelBegin; p < panelEnd; p += kMaxPanels) {
    int numPanels = panelEnd - p < kMaxPanels ? panelEnd - p : kMaxPanels;
    int col = p * kPanelWidth;
    int cols = w.n - col < numPanels * kPanelWidth ? w.n - col : numPanels * kPanelWidth;
    const W* panel = data + size_t(p) * w.panelStride();
    for (int r = 0; r < m; r += kMaxRows) {
      int rows = m - r < kMaxRows ? m - r : kMaxRows;
      table.fn[rows - 1][numPanels - 1](x + size_t(r) * ldx, ldx, panel, w.panelStride(), w.k,
                                         bias ? bias + col : nullptr, y + size_t(r) * ldy + col, ldy, cols);
    }
  }
}

void avx512Panels(const float* x, int ldx, int m, const PackedMatrix& w, int panelBegin, int panelEnd,
                  const float* bias, float* y, int ldy) {
  if (w.dtype == WeightDtype::F32) panels(x, ldx, m, w, w.f32.data(), panelBegin, panelEnd, bias, y, ldy);
  else panels(x, ldx, m, w, w.bf16.data(), panelBegin, panelEnd, bias, y, ldy);
}

}  // namespace

GemmKernel avx512GemmKernel() { return {"avx512", avx512Panels}; }

}  // namespace nano

#else

namespace nano {
GemmKernel avx512GemmKernel() { return portableGemmKernel(); }
}  // namespace nano

#endif
