// Quantized dot products, AVX-VNNI (VEX): vpdpbusd / vpdpwssd fuse the multiply and the accumulate.
// The kernel bodies are quant_simd.inc; every header is included before the target pragma,
// so no shared inline function gets a copy compiled for this instruction set.
#include <algorithm>
#include <cstring>

#include "quant_acts.h"
#include "quant_gemm.h"
#include "isa.h"

#if defined(__x86_64__)
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avxvnni")

#define QUANT_BUILD Build::AvxVnni
#define QUANT_ROWS 2
#define X8_ROWS 2
#define DOT_US(a, u, s) _mm256_dpbusd_avx_epi32(a, u, s)
#define DPBUSD(a, u, s) _mm256_dpbusd_avx_epi32(a, u, s)
#define MADD_ACC(a, p, s) _mm256_dpwssd_avx_epi32(a, p, s)

namespace nano {
#include "quant_simd.inc"
}  // namespace nano

#undef QUANT_ROWS
#undef X8_ROWS
#undef QUANT_BUILD
#undef DOT_US
#undef MADD_ACC
#undef DPBUSD
#pragma GCC pop_options

namespace nano {

bool avxVnniQuantAvailable() {
  __builtin_cpu_init();
  return avx2QuantAvailable() && __builtin_cpu_supports("avxvnni");
}

QuantKernel avxVnniQuantKernel() { return {"avx-vnni", simdTile, QuantLayout::InterleavedQ8Biased, quantizeActsAvx2}; }

}  // namespace nano

#else
namespace nano {
bool avxVnniQuantAvailable() { return false; }
QuantKernel avxVnniQuantKernel() { return portableQuantKernel(); }
}  // namespace nano
#endif
