// y[m, n] = sum_k x[m, k] * W[n, k] (+ bias[n]) over a PackedMatrix.
//
// Batch invariance: every y element is ONE accumulator chain over k = 0..K-1 in
// order (acc += x*w, or fma), started from zero, bias added last. Row tiling,
// column tiling and the thread split only decide WHO computes an element, never the
// order of its sum, so a row's result does not depend on M or on the other rows.
#pragma once
#include "packed_matrix.h"
#include "thread_pool.h"

namespace nano {

// Computes all m rows of y for column blocks [blockBegin, blockEnd) (64 columns each).
using GemmBlocksFn = void (*)(const float* x, int ldx, int m, const PackedMatrix& w, int blockBegin,
                              int blockEnd, const float* bias, float* y, int ldy);

struct GemmKernel {
  const char* name;
  GemmBlocksFn run;
};

GemmKernel portableGemmKernel();
bool avx512GemmAvailable();  // CPU supports AVX-512F/BW/VL (run-time check)
GemmKernel avx512GemmKernel();

// The AVX-512 kernel when the CPU has it, unless `choice` or NANO_SERVING_KERNEL=portable says otherwise.
GemmKernel chooseGemmKernel(KernelChoice choice);

// Splits the column blocks over the pool's threads (never K).
void gemm(ThreadPool& pool, const GemmKernel& kernel, const float* x, int ldx, int m, const PackedMatrix& w,
          const float* bias, float* y, int ldy);

}  // namespace nano
