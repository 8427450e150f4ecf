#include "ops.h"

#include <cmath>

#include "fast_math.h"

// Row ops are compiled three times (AVX-512, AVX2 and baseline) and picked by CPU; each lane does the
// same IEEE operations in each (no FMA contraction), so results do not depend on the pick.
#define NANO_ROW_OP __attribute__((target_clones("avx512f", "avx2", "default")))

namespace nano {

NANO_ROW_OP float dot(const float* a, const float* b, int n) {
  float lanes[16] = {};
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) lanes[j] = lanes[j] + a[i + j] * b[i + j];
  for (int j = 0; i < n; ++i, ++j) lanes[j] = lanes[j] + a[i] * b[i];
  for (int width = 8; width >= 1; width /= 2)
    for (int j = 0; j < width; ++j) lanes[j] = lanes[j] + lanes[j + width];
  return lanes[0];
}

NANO_ROW_OP void rmsNorm(float* out, const float* x, const float* weight, int n, float eps) {
  float lanes[16] = {};  // lane i % 16, spelled in whole vectors so that it vectorizes
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) lanes[j] += x[i + j] * x[i + j];
  for (int j = 0; i < n; ++i, ++j) lanes[j] += x[i] * x[i];
  float meanSquare = sumFixed(lanes, 16) / float(n);
  float scale = 1.0f / std::sqrt(meanSquare + eps);
  for (i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

NANO_ROW_OP void layerNorm(float* out, const float* x, const float* weight, const float* bias, int n, float eps) {
  float lanes[16] = {};
  for (int i = 0; i < n; ++i) lanes[i % 16] += x[i];
  float mean = sumFixed(lanes, 16) / float(n);
  float varLanes[16] = {};
  for (int i = 0; i < n; ++i) varLanes[i % 16] += (x[i] - mean) * (x[i] - mean);
  float var = sumFixed(varLanes, 16) / float(n);
  float scale = 1.0f / std::sqrt(var + eps);
  for (int i = 0; i < n; ++i) out[i] = (x[i] - mean) * scale * weight[i] + bias[i];
}

NANO_ROW_OP void addInPlace(float* x, const float* y, int n) {
  for (int i = 0; i < n; ++i) x[i] += y[i];
}

NANO_ROW_OP void siluMul(float* out, const float* gate, const float* up, int n) {
  for (int i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + expFast(-gate[i])) * up[i];
}

NANO_ROW_OP void geluTanh(float* out, const float* x, int n) {
  const float c = 0.7978845608028654f;  // sqrt(2 / pi)
  for (int i = 0; i < n; ++i) {
    float v = x[i];
    float tanhArg = c * (v + 0.044715f * v * v * v);
    float tanh = 1.0f - 2.0f / (expFast(2.0f * tanhArg) + 1.0f);
    out[i] = 0.5f * v * (1.0f + tanh);
  }
}

}  // namespace nano
