// Row-wise building blocks of the forward pass. Each works on one row at a time
// with a fixed summation order, so a row's result never depends on its batch. `isa`
// (the step's kernel's, gemm.h) picks the build: AVX-512, AVX2 or baseline; same bits.
#pragma once
#include "isa.h"

namespace nano {

// out = x / sqrt(mean(x^2) + eps) * weight                                (n)
void rmsNorm(Isa isa, float* out, const float* x, const float* weight, int n, float eps);
// out = (x - mean) / sqrt(var + eps) * weight + bias                      (n)
void layerNorm(Isa isa, float* out, const float* x, const float* weight, const float* bias, int n, float eps);
// x += y                                                                  (n)
void addInPlace(Isa isa, float* x, const float* y, int n);
// out[i] = silu(gate[i]) * up[i]                                          (n)
void siluMul(Isa isa, float* out, const float* gate, const float* up, int n);
// out[i] = gelu_tanh(x[i])                                                (n)
void geluTanh(Isa isa, float* out, const float* x, int n);

}  // namespace nano
