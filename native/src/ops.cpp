#include "ops.h"

#include <cmath>

#include "fast_math.h"

// Each row op is compiled three times, for AVX-512, for AVX2 and for the baseline, from one body
// (inlined into each build, which the compiler then vectorizes for its target); the step's Isa
// (its GEMM kernel's) picks the build, so a forced kernel runs no wider code. Each lane does the
// same IEEE operations in each build (no FMA contraction), so the pick never changes a bit.
#define NANO_BODY static inline __attribute__((always_inline))

namespace nano {

NANO_BODY void rmsNormBody(float* out, const float* x, const float* weight, int n, float eps) {
  float lanes[16] = {};  // lane i % 16, spelled in whole vectors so that it vectorizes
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) lanes[j] += x[i + j] * x[i + j];
  for (int j = 0; i < n; ++i, ++j) lanes[j] += x[i] * x[i];
  float meanSquare = sumFixed(lanes, 16) / float(n);
  float scale = 1.0f / std::sqrt(meanSquare + eps);
  for (i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

NANO_BODY void layerNormBody(float* out, const float* x, const float* weight, const float* bias, int n, float eps) {
  float lanes[16] = {};
  for (int i = 0; i < n; ++i) lanes[i % 16] += x[i];
  float mean = sumFixed(lanes, 16) / float(n);
  float varLanes[16] = {};
  for (int i = 0; i < n; ++i) varLanes[i % 16] += (x[i] - mean) * (x[i] - mean);
  float var = sumFixed(varLanes, 16) / float(n);
  float scale = 1.0f / std::sqrt(var + eps);
  for (int i = 0; i < n; ++i) out[i] = (x[i] - mean) * scale * weight[i] + bias[i];
}

NANO_BODY void addInPlaceBody(float* x, const float* y, int n) {
  for (int i = 0; i < n; ++i) x[i] += y[i];
}

NANO_BODY void siluMulBody(float* out, const float* gate, const float* up, int n) {
  for (int i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + expFast(-gate[i])) * up[i];
}

NANO_BODY void geluTanhBody(float* out, const float* x, int n) {
  const float c = 0.7978845608028654f;  // sqrt(2 / pi)
  for (int i = 0; i < n; ++i) {
    float v = x[i];
    float tanhArg = c * (v + 0.044715f * v * v * v);
    float tanh = 1.0f - 2.0f / (expFast(2.0f * tanhArg) + 1.0f);
    out[i] = 0.5f * v * (1.0f + tanh);
  }
}

// The three builds of op NAME (PARAMS, called with ARGS) and the public entry that picks one by Isa.
#define NANO_UNPAREN(...) __VA_ARGS__
#define NANO_ROW_OP(NAME, PARAMS, ARGS)                             \
  __attribute__((target("avx512f"))) static void NAME##Avx512 PARAMS { \
    markClone(CloneFamily::RowOps, Isa::Avx512);                    \
    NAME##Body ARGS;                                                \
  }                                                                 \
  __attribute__((target("avx2"))) static void NAME##Avx2 PARAMS {   \
    markClone(CloneFamily::RowOps, Isa::Avx2);                      \
    NAME##Body ARGS;                                                \
  }                                                                 \
  static void NAME##Baseline PARAMS {                               \
    markClone(CloneFamily::RowOps, Isa::Portable);                  \
    NAME##Body ARGS;                                                \
  }                                                                 \
  void NAME(Isa isa, NANO_UNPAREN PARAMS) {                         \
    if (isa == Isa::Avx512) NAME##Avx512 ARGS;                      \
    else if (isa == Isa::Avx2) NAME##Avx2 ARGS;                     \
    else NAME##Baseline ARGS;                                       \
  }

NANO_ROW_OP(rmsNorm, (float* out, const float* x, const float* weight, int n, float eps), (out, x, weight, n, eps))
NANO_ROW_OP(layerNorm, (float* out, const float* x, const float* weight, const float* bias, int n, float eps),
            (out, x, weight, bias, n, eps))
NANO_ROW_OP(addInPlace, (float* x, const float* y, int n), (x, y, n))
NANO_ROW_OP(siluMul, (float* out, const float* gate, const float* up, int n), (out, gate, up, n))
NANO_ROW_OP(geluTanh, (float* out, const float* x, int n), (out, x, n))

}  // namespace nano
