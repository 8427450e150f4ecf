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

GemmKernel chooseGemmKernel(KernelChoice choice) {
  const char* env = std::getenv("NANO_SERVING_KERNEL");
  bool forcePortable = choice == KernelChoice::Portable || (env && std::strcmp(env, "portable") == 0);
  if (!forcePortable && avx512GemmAvailable()) return avx512GemmKernel();
  return portableGemmKernel();
}

void gemm(ThreadPool& pool, const GemmKernel& kernel, const float* x, int ldx, int m, const PackedMatrix& w,
          const float* bias, float* y, int ldy) {
  if (m <= 0) return;
  // One chunk per 64-column block, claimed by whichever thread is free.
  pool.parallelFor(w.numBlocks, 1, [&](int begin, int end, int) { kernel.run(x, ldx, m, w, begin, end, bias, y, ldy); });
}

}  // namespace nano
