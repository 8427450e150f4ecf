#include "tensor_view.h"

#include <cstring>

#include "quant_matrix.h"

namespace nano {

static float bf16ToFloat(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

static float f16ToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf / NaN
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;  // signed zero
  } else {        // subnormal: renormalize
    int shift = 0;
    while (!(mantissa & 0x400)) { mantissa <<= 1; ++shift; }
    bits = sign | (uint32_t(113 - shift) << 23) | ((mantissa & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

bool isQuantized(TensorDtype dtype) { return int(dtype) >= int(TensorDtype::Q8_0); }

QuantType quantTypeOf(TensorDtype dtype) { return QuantType(int(dtype) - int(TensorDtype::Q8_0)); }

AlignedVec<float> toFloat32(const TensorView& view) {
  AlignedVec<float> out(view.numel);
  if (isQuantized(view.dtype)) {
    const QuantType type = quantTypeOf(view.dtype);
    const int k = int(view.shape.back());
    const size_t rowBytes = size_t(k / quantTraits(type).blockElems) * quantTraits(type).blockBytes;
    const uint8_t* bytes = static_cast<const uint8_t*>(view.data);
    for (size_t r = 0; r < view.numel / k; ++r) dequantizeRow(type, bytes + r * rowBytes, k, out.data() + r * k);
    return out;
  }
  if (view.dtype == TensorDtype::F32) {
    std::memcpy(out.data(), view.data, view.numel * 4);
    return out;
  }
  const uint16_t* src = static_cast<const uint16_t*>(view.data);
  bool isBf16 = view.dtype == TensorDtype::Bf16;
  for (size_t i = 0; i < view.numel; ++i) out[i] = isBf16 ? bf16ToFloat(src[i]) : f16ToFloat(src[i]);
  return out;
}

}  // namespace nano
