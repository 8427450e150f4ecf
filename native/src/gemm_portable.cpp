// Portable GEMM kernels: plain loops over one 16-column panel that the compiler
// vectorizes over columns (SSE2 on x86-64). Built for baseline x86-64 (or any CPU) only:
// no AVX2 clone picked by the CPU (target_clones would run AVX2 code under a forced
// 'portable' kernel, so that it would not run what a CPU without AVX2 runs). No FMA
// contraction (-ffp-contract=off): each element is acc = acc + x*w in k order.
#include <algorithm>
#include <cstring>

#include "gemm.h"

namespace nano {

namespace {

constexpr int kRows = 4;  // rows per micro-tile

// Half a panel row (8 columns) as a GCC vector: one ymm on AVX2, two xmm on SSE; per
// lane the same IEEE operations either way.
constexpr int kHalf = 8;
typedef float Vec8 __attribute__((vector_size(32)));
typedef uint32_t U32x8 __attribute__((vector_size(32)));
typedef uint16_t U16x8 __attribute__((vector_size(16)));

inline Vec8 loadHalf(const float* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline Vec8 loadHalf(const uint16_t* p) {  // bf16 -> f32 is exact: the bits go to the top half
  U16x8 h;
  std::memcpy(&h, p, sizeof h);
  U32x8 bits = __builtin_convertvector(h, U32x8) << 16;
  Vec8 v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

// rows x 8 tile: acc[r][j] = sum_k x[r, k] * w[k, j], k in order; w rows are `stride` apart.
template <int Rows, class W>
__attribute__((always_inline)) inline void tile(const float* x, int ldx, const W* w, size_t stride, int k,
                                                const float* bias, float* y, int ldy, int cols) {
  Vec8 acc[Rows] = {};
  for (int kk = 0; kk < k; ++kk) {
    const Vec8 wk = loadHalf(w + size_t(kk) * stride);
    for (int r = 0; r < Rows; ++r) acc[r] += x[size_t(r) * ldx + kk] * wk;
  }
  for (int r = 0; r < Rows; ++r) {
    float out[kHalf];
    std::memcpy(out, &acc[r], sizeof out);
    for (int j = 0; j < cols; ++j) y[size_t(r) * ldy + j] = bias ? out[j] + bias[j] : out[j];
  }
}

// One row across `Panels` panels of a block (rows `stride` W elements apart) in one pass
// over k: the same chain per element as tile<>, the weights streamed once (decode, M = 1).
template <int Panels, class W>
__attribute__((always_inline)) inline void rowAcross(const float* x, const W* w, size_t stride, int k,
                                                     const float* bias, float* y, int cols) {
  constexpr int kHalves = 2 * Panels;
  Vec8 acc[kHalves] = {};
  for (int kk = 0; kk < k; ++kk)
    for (int h = 0; h < kHalves; ++h) acc[h] += x[kk] * loadHalf(w + size_t(kk) * stride + h * kHalf);
  float out[kHalves * kHalf];
  std::memcpy(out, acc, sizeof out);
  for (int j = 0; j < cols; ++j) y[j] = bias ? out[j] + bias[j] : out[j];
}

template <class W>
__attribute__((always_inline)) inline void panels(const float* x, int ldx, int m, const PackedMatrix& w,
                                                  const W* data, int panelBegin, int panelEnd, const float* bias,
                                                  float* y, int ldy) {
  for (int b = panelBegin / kBlockPanels; b * kBlockPanels < panelEnd; ++b) {
    const int numPanels = w.blockPanels(b);
    const int first = std::max(panelBegin - b * kBlockPanels, 0);
    const int last = std::min(panelEnd - b * kBlockPanels, numPanels);
    const size_t stride = size_t(numPanels) * kPanelWidth;
    const int rangeCol = (b * kBlockPanels + first) * kPanelWidth;
    const int rangeCols = std::min(w.n - rangeCol, (last - first) * kPanelWidth);
    const W* range = data + w.blockOffset(b) + size_t(first) * kPanelWidth;
    const int fullRows = m / kRows * kRows;
    for (int r = fullRows; r < m; ++r) {  // leftover rows: one pass per row over the range
      const float* xr = x + size_t(r) * ldx;
      const float* bb = bias ? bias + rangeCol : nullptr;
      float* yr = y + size_t(r) * ldy + rangeCol;
      switch (last - first) {
        case 4: rowAcross<4>(xr, range, stride, w.k, bb, yr, rangeCols); break;
        case 3: rowAcross<3>(xr, range, stride, w.k, bb, yr, rangeCols); break;
        case 2: rowAcross<2>(xr, range, stride, w.k, bb, yr, rangeCols); break;
        default: rowAcross<1>(xr, range, stride, w.k, bb, yr, rangeCols); break;
      }
    }
    for (int half = 2 * first; half < 2 * last; ++half) {
      const int col = b * kBlockPanels * kPanelWidth + half * kHalf;
      if (col >= w.n) break;
      const int cols = w.n - col < kHalf ? w.n - col : kHalf;
      const W* panel = data + w.blockOffset(b) + size_t(half) * kHalf;
      const float* colBias = bias ? bias + col : nullptr;
      for (int r = 0; r < fullRows; r += kRows)
        tile<kRows>(x + size_t(r) * ldx, ldx, panel, stride, w.k, colBias, y + size_t(r) * ldy + col, ldy, cols);
    }
  }
}

void portablePanels(const float* x, int ldx, int m, const PackedMatrix& w, int panelBegin, int panelEnd,
                    const float* bias, float* y, int ldy) {
  markBuild(CloneFamily::Gemm, Build::Portable);
  if (w.dtype == WeightDtype::F32) panels(x, ldx, m, w, w.f32.data(), panelBegin, panelEnd, bias, y, ldy);
  else panels(x, ldx, m, w, w.bf16.data(), panelBegin, panelEnd, bias, y, ldy);
}

}  // namespace

GemmKernel portableGemmKernel() { return {"portable", portablePanels}; }

}  // namespace nano
