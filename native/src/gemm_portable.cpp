// Portable GEMM kernels: plain loops over one 16-column panel that the compiler
// vectorizes over columns. Built for baseline x86-64 (or any CPU); no FMA
// contraction (-ffp-contract=off), so each element is acc = acc + x*w in k order.
#include <cstring>

#include "gemm.h"

namespace nano {

namespace {

constexpr int kRows = 4;  // rows per micro-tile

inline float bf16Bits(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline float weightAt(const float* p, size_t i) { return p[i]; }
inline float weightAt(const uint16_t* p, size_t i) { return bf16Bits(p[i]); }

// rows x 16 tile: acc[r][j] = sum_k x[r, k] * panel[k, j], k in order; panel rows are `stride` apart.
template <class W>
void tile(const float* x, int ldx, int rows, const W* panel, size_t stride, int k, const float* bias, float* y,
          int ldy, int cols) {
  float acc[kRows][kPanelWidth] = {};
  for (int kk = 0; kk < k; ++kk) {
    float w[kPanelWidth];
    for (int j = 0; j < kPanelWidth; ++j) w[j] = weightAt(panel, size_t(kk) * stride + j);
    for (int r = 0; r < rows; ++r) {
      float a = x[size_t(r) * ldx + kk];
      for (int j = 0; j < kPanelWidth; ++j) acc[r][j] = acc[r][j] + a * w[j];
    }
  }
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < cols; ++j) y[size_t(r) * ldy + j] = bias ? acc[r][j] + bias[j] : acc[r][j];
}

template <class W>
void blocks(const float* x, int ldx, int m, const PackedMatrix& w, const W* data, int blockBegin, int blockEnd,
            const float* bias, float* y, int ldy) {
  for (int b = blockBegin; b < blockEnd; ++b) {
    const int numPanels = w.blockPanels(b);
    const size_t stride = size_t(numPanels) * kPanelWidth;
    for (int p = 0; p < numPanels; ++p) {
      int col = (b * kBlockPanels + p) * kPanelWidth;
      int cols = w.n - col < kPanelWidth ? w.n - col : kPanelWidth;
      const W* panel = data + w.blockOffset(b) + size_t(p) * kPanelWidth;
      for (int r = 0; r < m; r += kRows) {
        int rows = m - r < kRows ? m - r : kRows;
        tile(x + size_t(r) * ldx, ldx, rows, panel, stride, w.k, bias ? bias + col : nullptr,
             y + size_t(r) * ldy + col, ldy, cols);
      }
    }
  }
}

void portableBlocks(const float* x, int ldx, int m, const PackedMatrix& w, int blockBegin, int blockEnd,
                    const float* bias, float* y, int ldy) {
  if (w.dtype == WeightDtype::F32) blocks(x, ldx, m, w, w.f32.data(), blockBegin, blockEnd, bias, y, ldy);
  else blocks(x, ldx, m, w, w.bf16.data(), blockBegin, blockEnd, bias, y, ldy);
}

}  // namespace

GemmKernel portableGemmKernel() { return {"portable", portableBlocks}; }

}  // namespace nano
