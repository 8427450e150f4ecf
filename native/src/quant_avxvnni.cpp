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
// Four rows share each loaded 8-column weight block, as on AVX2 (two did before: each block was
// unpacked twice as often). Intel Xeon (family 6 model 167), 2 threads, 2026-12-04, quant-kernel.js
// at m = 32, 4096 x 4096: Q8_0 349-367 -> 465-469 Gop/s, Q4_K 345-372 -> 425-442, Q5_K 279-290
// -> 326, Q6_K 255-267 -> 303-319 (AVX2: 260, 365, 317, 314).
#define X8_ROWS 4
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
