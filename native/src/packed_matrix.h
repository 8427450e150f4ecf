// A linear layer's weight, packed at load into the panel layout the GEMM streams:
// 16 output columns side by side for each k, so a micro-kernel reads one cache line
// per k per panel and vectorizes over output columns.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "aligned.h"
#include "config.h"

namespace nano {

constexpr int kPanelWidth = 16;

struct PackedMatrix {
  int n = 0;          // output features (rows of the [N, K] weight)
  int k = 0;          // input features
  int numPanels = 0;  // ceil(n / 16); the last panel is zero-padded
  WeightDtype dtype = WeightDtype::F32;
  AlignedVec<float> f32;      // (panel, k, 16)   when dtype == F32
  AlignedVec<uint16_t> bf16;  // (panel, k, 16)   when dtype == Bf16, raw bf16 bits

  size_t panelStride() const { return size_t(k) * kPanelWidth; }
  size_t bytes() const { return f32.size() * 4 + bf16.size() * 2; }
};

// One row-major f32 block [rows, k] of the matrix being packed.
struct RowBlock {
  const float* data;
  int rows;
};

// Packs the row-concatenation of blocks (e.g. q, k and v weights) as one [N, k] matrix.
PackedMatrix packMatrix(const std::vector<RowBlock>& blocks, int k, WeightDtype dtype);

uint16_t floatToBf16(float value);  // round to nearest even; NaN stays NaN

}  // namespace nano
