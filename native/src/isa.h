// The instruction set a step runs on, chosen with the GEMM kernel (gemm.h: chooseGemmKernel):
// the GEMM, attention, row ops and sampling of a model all take their code path from it, so a
// forced kernel ('avx2' on an AVX-512 CPU) runs none of the wider code.
#pragma once
#include <atomic>

namespace nano {

enum class Isa { Portable, Avx2, Avx512 };

// Which builds of the row ops (ops.cpp) and of sampling (sampling.cpp) have run since the last
// reset, one bit per Isa (1 << int(isa)): the addon exports it (`clonesUsed`) so that tests can
// see that a forced kernel's own build ran. Set by each build on its first call after a reset.
enum class CloneFamily { RowOps, Sampling };
std::atomic<unsigned>& clonesUsed(CloneFamily family);

inline void markClone(CloneFamily family, Isa isa) {
  std::atomic<unsigned>& used = clonesUsed(family);
  const unsigned bit = 1u << int(isa);
  if (!(used.load(std::memory_order_relaxed) & bit)) used.fetch_or(bit, std::memory_order_relaxed);
}

}  // namespace nano
