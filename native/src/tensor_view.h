// A weight tensor as handed over from JS: a borrowed view, valid only while the
// constructor runs. Weights copy what they keep.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "aligned.h"
#include "quant_format.h"

namespace nano {

// Q8_0 .. Q6_K: raw ggml blocks (quant_format.h), rows of the last dimension.
enum class TensorDtype { F32, F16, Bf16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K };

bool isQuantized(TensorDtype dtype);
QuantType quantTypeOf(TensorDtype dtype);  // for a quantized dtype

struct TensorView {
  TensorDtype dtype = TensorDtype::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // float* for F32, uint16_t* (raw bits) for F16/Bf16, block bytes when quantized
  size_t numel = 0;           // elements (not bytes, for quantized views)
};

using TensorViews = std::unordered_map<std::string, TensorView>;

// The tensor converted to f32 (a copy; quantized tensors dequantized row by row).
AlignedVec<float> toFloat32(const TensorView& view);

}  // namespace nano
