// A linear layer's weight kept quantized: [n, k] rows of ggml blocks exactly as the GGUF
// file stores them, so a row is also what an embedding lookup dequantizes. A fused matrix
// (q|k|v, gate|up) is a list of parts, each a run of rows of one block type (a Q4_K_M file
// stores attn_v as Q6_K beside Q4_K q and k).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "aligned.h"
#include "quant_format.h"

namespace nano {

struct QuantPart {
  QuantType type;
  int rowBegin = 0;     // first output column of this part in the fused matrix
  int rows = 0;
  size_t rowBytes = 0;  // k / blockElems * blockBytes
  size_t offset = 0;    // byte offset of its first row in QuantMatrix::data
  // For the SIMD kernels (every format): groups of `groupColumns` (8 or 16) columns interleaved
  // (below); then rowBytes is the bytes of one group and row() does not apply.
  bool interleaved = false;
  int groupColumns = 0;
};

// How a kernel wants its matrices stored: GGUF rows, or parts interleaved by 8 columns, Q8_0
// quants as they are (AVX2: vpmaddubsw takes |w| and the activations' signs flipped by w) or
// biased by +128 (VNNI: vpdpbusd takes them as u8), or by 16 columns (AVX512-VNNI: one 64-byte
// zmm load holds 4 consecutive k of 16 columns), biased.
enum class QuantLayout : uint8_t { Rows, Interleaved, InterleavedQ8Biased, Interleaved16Q8Biased };

// Interleaved by W = 8 columns, per group of 8 columns (the last one zero-padded) and per block
// (W = 16: the same with 16 columns wherever 8 is written, each section twice as long):
//   Q8_0 (32 k):  8 f16 scales, then for each 4 consecutive k the 8 columns' 4 quants (int8, or
//                 +128 as u8): 16 + 256 bytes, the same as 8 GGUF blocks.
//   Q4_K (256 k): 8 f16 d, 8 f16 dmin, the 6-bit scales unpacked (sc[j][col], 64 bytes), the
//                 mins (m[j][col], 64 bytes), then for each 64-k chunk and 4 consecutive k the
//                 8 columns' 4 bytes: low nibble k, high nibble k + 32 (1024 bytes; 3 % more).
//   Q6_K (256 k): 8 f16 d, the int8 scales (sc[g][col], 128 bytes), the low 4 bits as Q4_K's
//                 nibbles (1024 bytes), then the high 2 bits: per 64-k chunk and pair of
//                 4-k steps, the 8 columns' 4 bytes, bits 0-1 / 2-3 the weights k / k + 32 of
//                 the first step, bits 4-5 / 6-7 those of the second (512 bytes): 8 x 210.
//                 That is W = 16's layout; W = 8 stores the 6-bit values instead, per 64-k chunk
//                 and pair of 4-k steps (k, k + 4) three 32-byte vectors laid out as Q8_0's:
//                 the 6-bit weights k, k + 32, k + 4 in bits 0-5, and in bits 6-7 of each the
//                 weight k + 36's bits 0-1, 2-3, 4-5 (1536 bytes, the same 8 x 210 in all).
constexpr int kInterleave = 8;
constexpr int kInterleave16 = 16;
// Bytes of one block of a W-column group.
constexpr int interleavedQ8_0Bytes(int w) { return 2 * w + 32 * w; }
constexpr int interleavedQ4KBytes(int w) { return 4 * w + 16 * w + 128 * w; }
constexpr int interleavedQ6KBytes(int w) { return 2 * w + 16 * w + 192 * w; }
// Q4_0 (32 k): W f16 scales, then for each 4 consecutive k of the first 16 the W columns' 4 GGUF
// bytes (low nibble weight k, high nibble k + 16): 2 W + 16 W bytes, W blocks.
constexpr int interleavedQ4_0Bytes(int w) { return 2 * w + 16 * w; }
// Q5_K (256 k): Q4_K's W-column block, then the fifth bits, 32 W bytes (W x 180 bytes in all).
//   W = 16: per 64-k chunk and 4 consecutive k, a 64-bit byte mask of the low nibbles' weights
//           (bit 4 c + i: column c, weight k + i) and one of the high nibbles' (k + 32).
//   W = 8:  per 64-k chunk, two 32-byte bit planes laid out as the nibbles (byte 4 c + i: column
//           c): the low nibbles' plane, whose bit s is the fifth bit of weight 4 s + i of the
//           chunk, then the high nibbles' (weight 32 + 4 s + i).
constexpr int interleavedQ5KBytes(int w) { return interleavedQ4KBytes(w) + 32 * w; }
constexpr int kInterleavedQ8_0Bytes = interleavedQ8_0Bytes(kInterleave);
constexpr int kInterleavedQ4KBytes = interleavedQ4KBytes(kInterleave);
constexpr int kInterleavedQ6KBytes = interleavedQ6KBytes(kInterleave);
constexpr int kInterleavedQ4_0Bytes = interleavedQ4_0Bytes(kInterleave);
constexpr int kInterleavedQ5KBytes = interleavedQ5KBytes(kInterleave);

struct QuantMatrix {
  int n = 0;  // output features
  int k = 0;  // input features
  std::vector<QuantPart> parts;
  AlignedVec<uint8_t> data;  // parts' rows, concatenated

  bool needsQ8_0() const;  // some part takes activations in Q8_0 form
  bool needsQ8K() const;   // ... in Q8_K form
  size_t bytes() const { return data.size(); }
  const uint8_t* row(const QuantPart& p, int r) const { return data.data() + p.offset + size_t(r) * p.rowBytes; }
  const QuantPart& partOfRow(int row) const;
};

// One block-typed tensor of `rows` rows of k weights, as borrowed file bytes.
struct QuantSource {
  QuantType type;
  int rows;
  const uint8_t* bytes;
};

// Concatenates the sources' rows (each k wide; k a multiple of each type's block size);
// in `layout` (the kernel's).
std::shared_ptr<QuantMatrix> makeQuantMatrix(const std::vector<QuantSource>& sources, int k,
                                             QuantLayout layout = QuantLayout::Rows);

// quant_interleave.cpp: which types interleave at `width` columns, the bytes of one block of a `width`-column
// group, and the interleaving of `rows` rows of k weights (GGUF blocks at src) into groups at out.
bool interleavable(QuantType t, int width);
size_t interleavedBlockBytes(QuantType t, int width);
void interleaveRows(QuantType type, const uint8_t* src, int rows, int k, bool biasQ8, int width, uint8_t* out);

// out[0..k) = the weights of one row of `type` blocks (ggml's dequantization, same float ops).
void dequantizeRow(QuantType type, const uint8_t* row, int k, float* out);

}  // namespace nano
