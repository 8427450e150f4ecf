// The interleaved layouts of quant_matrix.h: W (8 or 16) columns' blocks side by side, so one
// 4W-byte load holds 4 consecutive k of all W columns and each column's dot product lands in
// its own 32-bit lane (no horizontal sums, one scale vector per block).
#include <cstring>

#include "quant_matrix.h"

namespace nano {

namespace {

// The byte offset, inside one interleaved 32-k run of a W-column group, of weight i (0..31) of column c.
inline int laneByte(int c, int i, int W) { return (i / 4) * 4 * W + 4 * c + i % 4; }

void interleaveQ8_0(const uint8_t* blk, int c, bool bias, int W, uint8_t* dst) {
  std::memcpy(dst + 2 * c, blk, 2);  // padding columns: scale 0, quants 0
  for (int i = 0; i < 32; ++i) dst[2 * W + laneByte(c, i, W)] = uint8_t(bias ? blk[2 + i] ^ 0x80 : blk[2 + i]);
}

void interleaveQ4_0(const uint8_t* blk, int c, int W, uint8_t* dst) {
  std::memcpy(dst + 2 * c, blk, 2);
  for (int i = 0; i < 16; ++i) dst[2 * W + laneByte(c, i, W)] = blk[2 + i];  // weights i (low nibble), i + 16 (high)
}

void interleaveQ4K(const uint8_t* blk, int c, int W, uint8_t* dst) {
  std::memcpy(dst + 2 * c, blk, 2);              // d
  std::memcpy(dst + 2 * W + 2 * c, blk + 2, 2);  // dmin
  uint8_t sc[8], mn[8];
  unpackScalesK(blk + 4, sc, mn);
  for (int j = 0; j < 8; ++j) {
    dst[4 * W + j * W + c] = sc[j];
    dst[12 * W + j * W + c] = mn[j];
  }
  for (int l = 0; l < 128; ++l)  // qs[32 jj + i]: weights 64 jj + i (low nibble) and + 32 (high)
    dst[20 * W + (l / 32) * 32 * W + laneByte(c, l % 32, W)] = blk[16 + l];
}

// Q5_K: Q4_K's nibbles and scales, then the fifth bits (quant_matrix.h): at W = 16 as byte
// masks, at W = 8 as bit planes.
void interleaveQ5K(const uint8_t* blk, int c, int W, uint8_t* dst) {
  uint8_t q4[144];  // the block as Q4_K: d, dmin, scales, qs
  std::memcpy(q4, blk, 16);
  std::memcpy(q4 + 16, blk + 48, 128);
  interleaveQ4K(q4, c, W, dst);
  uint8_t* qh = dst + 148 * W;
  for (int jj = 0; jj < 4; ++jj)
    for (int i = 0; i < 32; ++i) {  // weight 64 jj + i: bit 2 jj of qh[i]; weight 64 jj + 32 + i: bit 2 jj + 1
      const int lowBit = (blk[16 + i] >> (2 * jj)) & 1, highBit = (blk[16 + i] >> (2 * jj + 1)) & 1;
      if (W == kInterleave) {  // plane byte 4 c + i % 4, bit i / 4 (the 4-k step)
        uint8_t* planes = qh + jj * 8 * W;
        planes[4 * c + i % 4] |= uint8_t(lowBit << (i / 4));
        planes[4 * W + 4 * c + i % 4] |= uint8_t(highBit << (i / 4));
        continue;
      }
      const int bit = 4 * c + i % 4;
      uint8_t* masks = qh + (8 * jj + i / 4) * 16;
      if (lowBit) masks[bit / 8] |= uint8_t(1 << (bit % 8));
      if (highBit) masks[8 + bit / 8] |= uint8_t(1 << (bit % 8));
    }
}

// The 6-bit value (0..63) of weight w of a Q6_K block (quant_format.h).
int q6At(const uint8_t* blk, int w) {
  const int h = w / 128, l = w % 32, quarter = (w % 128) / 32;
  const uint8_t ql = blk[64 * h + 32 * (quarter & 1) + l];
  const int low = quarter < 2 ? ql & 0xf : ql >> 4;
  return low | (((blk[128 + 32 * h + l] >> (2 * quarter)) & 3) << 4);
}

void interleaveQ6K(const uint8_t* blk, int c, int W, uint8_t* dst) {
  std::memcpy(dst + 2 * c, blk + 208, 2);  // d
  for (int g = 0; g < 16; ++g) dst[2 * W + g * W + c] = blk[192 + g];
  uint8_t* ql = dst + 18 * W;
  uint8_t* qh = ql + 128 * W;
  if (W == kInterleave) {  // per 64-k chunk and pair u of 4-k steps: three 6-bit vectors, the fourth's bits on top
    for (int jj = 0; jj < 4; ++jj)
      for (int u = 0; u < 4; ++u)
        for (int i = 0; i < 4; ++i) {
          const int at = 64 * jj + 8 * u + i;  // weight of step 2u, lane i; step 2u + 1 is at + 4
          const int v0 = q6At(blk, at), v1 = q6At(blk, at + 32), v2 = q6At(blk, at + 4), v3 = q6At(blk, at + 36);
          uint8_t* three = ql + (4 * jj + u) * 12 * W + 4 * c + i;
          three[0] = uint8_t(v0 | (v3 & 3) << 6);
          three[4 * W] = uint8_t(v1 | ((v3 >> 2) & 3) << 6);
          three[8 * W] = uint8_t(v2 | (v3 >> 4) << 6);
        }
    return;
  }
  for (int jj = 0; jj < 4; ++jj) {
    for (int i = 0; i < 32; ++i) {  // weights 64 jj + i (low nibble, bits 0-1 / 4-5) and + 32 (high, 2-3 / 6-7)
      const int lo = q6At(blk, 64 * jj + i), hi = q6At(blk, 64 * jj + 32 + i);
      ql[jj * 32 * W + laneByte(c, i, W)] = uint8_t((lo & 0xf) | (hi & 0xf) << 4);
      const int kk = i / 4, shift = 4 * (kk & 1);
      uint8_t& h = qh[jj * 16 * W + (kk / 2) * 4 * W + 4 * c + i % 4];
      h = uint8_t(h | (lo >> 4) << shift | (hi >> 4) << (shift + 2));
    }
  }
}

}  // namespace

bool interleavable(QuantType, int width) { return width == kInterleave || width == kInterleave16; }

size_t interleavedBlockBytes(QuantType t, int width) {
  switch (t) {
    case QuantType::Q8_0: return interleavedQ8_0Bytes(width);
    case QuantType::Q4_0: return interleavedQ4_0Bytes(width);
    case QuantType::Q4_K: return interleavedQ4KBytes(width);
    case QuantType::Q5_K: return interleavedQ5KBytes(width);
    default: return interleavedQ6KBytes(width);
  }
}

void interleaveRows(QuantType type, const uint8_t* src, int rows, int k, bool biasQ8, int width, uint8_t* out) {
  const QuantTraits& t = quantTraits(type);
  const int numBlocks = k / t.blockElems;
  const size_t srcRowBytes = size_t(numBlocks) * t.blockBytes, outBlockBytes = interleavedBlockBytes(type, width);
  static const uint8_t zero[256] = {0};
  for (int g = 0; g < (rows + width - 1) / width; ++g) {
    for (int b = 0; b < numBlocks; ++b) {
      uint8_t* dst = out + (size_t(g) * numBlocks + b) * outBlockBytes;
      std::memset(dst, 0, outBlockBytes);
      for (int c = 0; c < width; ++c) {
        const int row = g * width + c;
        const uint8_t* blk = row < rows ? src + row * srcRowBytes + size_t(b) * t.blockBytes : zero;
        if (type == QuantType::Q8_0) interleaveQ8_0(blk, c, biasQ8, width, dst);
        else if (type == QuantType::Q4_0) interleaveQ4_0(blk, c, width, dst);
        else if (type == QuantType::Q5_K) interleaveQ5K(blk, c, width, dst);
        else if (type == QuantType::Q4_K) interleaveQ4K(blk, c, width, dst);
        else interleaveQ6K(blk, c, width, dst);
      }
    }
  }
}

}  // namespace nano
