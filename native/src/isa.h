// The instruction set a step runs on, chosen with the GEMM kernel (gemm.h: chooseGemmKernel):
// the GEMM, attention, row ops and sampling of a model all take their code path from it, so a
// forced kernel ('avx2' on an AVX-512 CPU) runs none of the wider code, and 'portable' runs
// none beyond baseline x86-64 (no AVX, FMA or F16C: no target_clones or CPU-picked builds).
#pragma once
#include <atomic>

namespace nano {

enum class Isa { Portable, Avx2, Avx512 };

// The builds a family of kernels has; the first three are the Isa's (1 << int(isa) each).
// Avx2 means the AVX2 (+ FMA, F16C) build; F16c: the AVX + F16C f16 KV store.
enum class Build { Portable, Avx2, Avx512, AvxVnni, Avx512Vnni, Avx512Bf16, F16c };
constexpr int kNumBuilds = 7;

// Which builds of each kernel family have run since the last reset, one bit per Build: the addon
// exports it (`clonesUsed`) so that tests can see that a forced kernel's own builds ran, and only
// those. Each build marks itself when it runs (inside the code, not at the dispatch).
enum class CloneFamily { Gemm, QuantGemm, QuantActs, Attention, KvStore, RowOps, Sampling };
constexpr int kNumCloneFamilies = 7;
std::atomic<unsigned>& clonesUsed(CloneFamily family);

inline void markBuild(CloneFamily family, Build build) {
  std::atomic<unsigned>& used = clonesUsed(family);
  const unsigned bit = 1u << int(build);
  if (!(used.load(std::memory_order_relaxed) & bit)) used.fetch_or(bit, std::memory_order_relaxed);
}

inline void markClone(CloneFamily family, Isa isa) { markBuild(family, Build(int(isa))); }

// Whether the CPU's vendor (cpuid leaf 0) is GenuineIntel: the AVX-512 f32 GEMM tunes its K
// slice and prefetch by vendor (gemm_avx512.cpp), the quantized x8 kernels their prefetch
// distance (quant_simd_x8.inc), the attention whether it prefetches f32 / 16-bit K/V
// (attention.h: isPrefetchingWideKv). Cached after the first call.
bool isIntelCpu();

}  // namespace nano
