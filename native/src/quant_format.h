// The ggml block formats this executor keeps quantized in memory, byte for byte as a GGUF
// file stores them (a row of K weights is K / blockElems blocks, rows one after another).
//   Q8_0  32 weights:  f16 d, int8 q[32]                    w = d * q
//   Q4_0  32 weights:  f16 d, u8 qs[16]                     w = d * (nibble - 8); low nibbles are
//                      weights 0..15, high nibbles 16..31
//   Q4_K 256 weights:  f16 d, f16 dmin, u8 scales[12], u8 qs[128]
//                      8 sub-blocks of 32, 6-bit scale sc and min m each (packed, see unpackScalesK);
//                      w = d * sc * nibble - dmin * m. qs[32c + l]: low nibble = weight 64c + l,
//                      high nibble = weight 64c + 32 + l
//   Q5_K 256 weights:  f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]
//                      as Q4_K with a fifth bit: bit 2c of qh[l] for weight 64c + l, bit 2c + 1
//                      for weight 64c + 32 + l
//   Q6_K 256 weights:  u8 ql[128], u8 qh[64], int8 scales[16], f16 d
//                      16 sub-blocks of 16, w = d * scale * (q6 - 32); per half h (128 weights):
//                      ql[64h + l] low/high nibble and qh[32h + l] bit pairs 0-1, 2-3, 4-5, 6-7 give
//                      weights 128h + l, + 32, + 64, + 96 (low nibble of ql[64h + 32 + l] for + 32)
#pragma once
#include <cstdint>
#include <cstring>

namespace nano {

enum class QuantType : uint8_t { Q8_0, Q4_0, Q4_K, Q5_K, Q6_K };
constexpr int kNumQuantTypes = 5;

struct QuantTraits {
  const char* name;
  int blockElems;
  int blockBytes;
  bool usesQ8K;  // activations quantized in 256-blocks (Q8_K) instead of 32-blocks (Q8_0)
};

inline const QuantTraits& quantTraits(QuantType t) {
  static const QuantTraits table[kNumQuantTypes] = {
      {"q8_0", 32, 34, false}, {"q4_0", 32, 18, false}, {"q4_k", 256, 144, true},
      {"q5_k", 256, 176, true}, {"q6_k", 256, 210, true}};
  return table[int(t)];
}

// IEEE half to float, exact (subnormals included).
inline float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff, bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {
    int shift = 0;
    while (!(mantissa & 0x400)) { mantissa <<= 1; ++shift; }
    bits = sign | (uint32_t(113 - shift) << 23) | ((mantissa & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Float to IEEE half, round to nearest even (the value an f16 scale is stored as).
uint16_t floatToHalf(float value);

inline uint16_t loadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Q4_K / Q5_K: the 8 six-bit scales and 8 six-bit mins packed in 12 bytes.
inline void unpackScalesK(const uint8_t* packed, uint8_t scales[8], uint8_t mins[8]) {
  for (int j = 0; j < 4; ++j) {
    scales[j] = packed[j] & 63;
    mins[j] = packed[j + 4] & 63;
    scales[j + 4] = (packed[j + 8] & 0xf) | ((packed[j] >> 6) << 4);
    mins[j + 4] = (packed[j + 8] >> 4) | ((packed[j + 4] >> 6) << 4);
  }
}

}  // namespace nano
