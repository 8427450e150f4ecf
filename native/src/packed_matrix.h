// A linear layer's weight, packed at load into the layout the GEMM streams: blocks of
// 64 output columns (4 panels of 16); inside a block, for each k, its 64 weights side
// by side. A micro-kernel reads one contiguous stream per block and vectorizes over
// output columns. The last block may be narrower (fewer panels); padding columns are 0.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "aligned.h"
#include "config.h"
#include "quant_gemm.h"

namespace nano {

constexpr int kPanelWidth = 16;
constexpr int kBlockPanels = 4;  // panels per block: 64 columns

struct PackedMatrix {
  int n = 0;          // output features (rows of the [N, K] weight)
  int k = 0;          // input features
  int numPanels = 0;  // ceil(n / 16); the last panel is zero-padded
  int numBlocks = 0;  // ceil(numPanels / 4)
  WeightDtype dtype = WeightDtype::F32;
  AlignedVec<float> f32;      // (block, k, panels_in_block * 16)   when dtype == F32
  AlignedVec<uint16_t> bf16;  // (block, k, panels_in_block * 16)   when dtype == Bf16, raw bf16 bits
                              // isPairs: (block, k / 2, panels_in_block * 16, 2), k padded to even
  bool isPairs = false;       // bf16 pair layout for vdpbf16ps (AVX512-BF16 kernel)
  // Set when the weight stays quantized (GGUF blocks); then f32/bf16 are empty and gemm()
  // runs quantKernel over it. Shared with the token embedding when the output head is tied.
  std::shared_ptr<const QuantMatrix> quant;
  QuantKernel quantKernel{nullptr, nullptr};

  int paddedK() const { return isPairs ? (k + 1) / 2 * 2 : k; }
  int blockPanels(int block) const {
    int left = numPanels - block * kBlockPanels;
    return left < kBlockPanels ? left : kBlockPanels;
  }
  // Element offset of (block, k = 0); a block's rows are blockPanels * 16 wide.
  size_t blockOffset(int block) const { return size_t(block) * paddedK() * kBlockPanels * kPanelWidth; }
  size_t bytes() const { return f32.size() * 4 + bf16.size() * 2 + (quant ? quant->bytes() : 0); }
};

// One row-major f32 block [rows, k] of the matrix being packed.
struct RowBlock {
  const float* data;
  int rows;
};

// Packs the row-concatenation of blocks (e.g. q, k and v weights) as one [N, k] matrix;
// bf16Pairs (bf16 only) selects the pair layout.
PackedMatrix packMatrix(const std::vector<RowBlock>& blocks, int k, WeightDtype dtype, bool bf16Pairs = false);

uint16_t floatToBf16(float value);  // round to nearest even; NaN stays NaN

}  // namespace nano
