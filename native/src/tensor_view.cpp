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
  for (size_t i = 0; i < view.numel; ++i) out[i] = isBf16 ? bf16ToFloat(src[i]) : halfToFloat(src[i]);
  return out;
}

}  // namespace nano
