// A weight tensor as handed over from JS: a borrowed view, valid only while the
// constructor runs. Weights copy what they keep.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "aligned.h"

namespace nano {

enum class TensorDtype { F32, F16, Bf16 };

struct TensorView {
  TensorDtype dtype = TensorDtype::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // float* for F32, uint16_t* (raw bits) otherwise
  size_t numel = 0;
};

using TensorViews = std::unordered_map<std::string, TensorView>;

// The tensor converted to f32 (a copy).
AlignedVec<float> toFloat32(const TensorView& view);

}  // namespace nano
