// The prologue and epilogue of an AVX-512 GEMM tile (R rows x P panels of 16 columns,
// one zmm accumulator each), shared by the f32 and the bf16-pair kernels. Include it
// after gemm_tiles.h, inside the AVX-512 target pragma.
#pragma once
#include <immintrin.h>

#include "gemm_tiles.h"

namespace nano {
namespace {

inline __mmask16 panelMask(int cols, int p) {
  int left = cols - p * kPanelWidth;
  return left >= kPanelWidth ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
}

// acc = 0 on the first slice, else the partial sums left in y.
template <int R, int P>
inline void startTile(__m512 (&acc)[R][P], const float* y, int ldy, int cols, Slice s) {
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p)
      acc[r][p] = s.isFirst ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(panelMask(cols, p), y + size_t(r) * ldy + p * 16);
}

// y = acc (+ bias on the last slice), the valid columns only.
template <int R, int P>
inline void storeTile(const __m512 (&acc)[R][P], const float* bias, float* y, int ldy, int cols, Slice s) {
  for (int p = 0; p < P; ++p) {
    const __mmask16 mask = panelMask(cols, p);
    const bool addBias = s.isLast && bias;
    const __m512 add = addBias ? _mm512_maskz_loadu_ps(mask, bias + p * kPanelWidth) : _mm512_setzero_ps();
    for (int r = 0; r < R; ++r)
      _mm512_mask_storeu_ps(y + size_t(r) * ldy + p * kPanelWidth, mask, addBias ? _mm512_add_ps(acc[r][p], add) : acc[r][p]);
  }
}

}  // namespace
}  // namespace nano
