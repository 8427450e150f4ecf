#include "gemm.h"

#include <cstdlib>
#include <cstring>

namespace nano {

bool avx512GemmAvailable() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

GemmKernel chooseGemmKernel(KernelChoice choice, WeightDtype dtype) {
  const char* env = std::getenv("NANO_SERVING_KERNEL");
  bool forcePortable = choice == KernelChoice::Portable || (env && std::strcmp(env, "portable") == 0);
  // Opt-in: bf16 activations (2^-9 relative error at each matmul input) for twice the
  // FMA rate; the default widens bf16 weights to f32 and sums like the f32 kernel.
  bool wantsBf16Dot = env && std::strcmp(env, "avx512-bf16") == 0;
  if (forcePortable) return portableGemmKernel();
  if (dtype == WeightDtype::Bf16 && wantsBf16Dot && avx512Bf16Available()) return avx512Bf16GemmKernel();
  if (avx512GemmAvailable()) return avx512GemmKernel();
  return portableGemmKernel();
}

void gemm(ThreadPool& pool, const GemmKernel& kernel, const float* x, int ldx, int m, const PackedMatrix& w,
          const float* bias, float* y, int ldy, uint16_t* xPairs) {
  if (m <= 0) return;
  if (w.isPairs) {
    const size_t padded = size_t(w.paddedK());
    pool.parallelFor(m, 16, [&](int begin, int end, int) {
      kernel.toPairs(x + size_t(begin) * ldx, ldx, end - begin, w.k, xPairs + begin * padded);
    });
    pool.parallelFor(w.numBlocks, 1, [&](int begin, int end, int) { kernel.runPairs(xPairs, m, w, begin, end, bias, y, ldy); });
    return;
  }
  // One chunk per 64-column block, claimed by whichever thread is free.
  pool.parallelFor(w.numBlocks, 1, [&](int begin, int end, int) { kernel.run(x, ldx, m, w, begin, end, bias, y, ldy); });
}

}  // namespace nano
