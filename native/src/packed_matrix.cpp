#include "packed_matrix.h"

#include <cstring>

namespace nano {

uint16_t floatToBf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);  // quiet NaN
  uint32_t roundingBias = 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t((bits + roundingBias) >> 16);
}

PackedMatrix packMatrix(const std::vector<RowBlock>& blocks, int k, WeightDtype dtype, bool bf16Pairs) {
  PackedMatrix m;
  for (const RowBlock& b : blocks) m.n += b.rows;
  m.k = k;
  m.numPanels = (m.n + kPanelWidth - 1) / kPanelWidth;
  m.numBlocks = (m.numPanels + kBlockPanels - 1) / kBlockPanels;
  m.dtype = dtype;
  m.isPairs = bf16Pairs && dtype == WeightDtype::Bf16;
  size_t total = size_t(m.numPanels) * m.paddedK() * kPanelWidth;
  if (dtype == WeightDtype::F32) m.f32.assign(total, 0.0f);
  else m.bf16.assign(total, 0);

  int row = 0;
  for (const RowBlock& b : blocks) {
    for (int r = 0; r < b.rows; ++r, ++row) {
      int block = row / (kBlockPanels * kPanelWidth);
      int width = m.blockPanels(block) * kPanelWidth;
      int colInBlock = row % (kBlockPanels * kPanelWidth);
      size_t base = m.blockOffset(block);
      const float* src = b.data + size_t(r) * k;
      for (int kk = 0; kk < k; ++kk) {
        size_t at = m.isPairs ? base + size_t(kk / 2) * width * 2 + colInBlock * 2 + kk % 2
                              : base + size_t(kk) * width + colInBlock;
        if (dtype == WeightDtype::F32) m.f32[at] = src[kk];
        else m.bf16[at] = floatToBf16(src[kk]);
      }
    }
  }
  return m;
}

}  // namespace nano
