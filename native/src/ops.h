// Row-wise building blocks of the forward pass. Each works on one row at a time
// with a fixed summation order, so a row's result never depends on its batch.
#pragma once
#include <vector>

#include "aligned.h"

namespace nano {

// out = x / sqrt(mean(x^2) + eps) * weight                                (n)
void rmsNorm(float* out, const float* x, const float* weight, int n, float eps);
// out = (x - mean) / sqrt(var + eps) * weight + bias                      (n)
void layerNorm(float* out, const float* x, const float* weight, const float* bias, int n, float eps);
// Fixed-order dot product (16 partial sums, then a fixed tree).
float dot(const float* a, const float* b, int n);
// x += y                                                                  (n)
void addInPlace(float* x, const float* y, int n);
// out[i] = silu(gate[i]) * up[i]                                          (n)
void siluMul(float* out, const float* gate, const float* up, int n);
// out[i] = gelu_tanh(x[i])                                                (n)
void geluTanh(float* out, const float* x, int n);

}  // namespace nano
