// Quantized dot products, AVX512-VNNI: zmm on the 16-column interleaved Q8_0 / Q4_K / Q6_K
// layout (quant_simd_x16.inc), ymm (EVEX, 32 registers: 4-row micro-tiles) on GGUF rows.
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
#pragma GCC target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")

#define QUANT_BUILD Build::Avx512Vnni
#define QUANT_ROWS 4
#define X8_ROWS 4
#define QUANT_X16 1
#define DOT_US(a, u, s) _mm256_dpbusd_epi32(a, u, s)
#define DPBUSD(a, u, s) _mm256_dpbusd_epi32(a, u, s)
#define MADD_ACC(a, p, s) _mm256_dpwssd_epi32(a, p, s)

namespace nano {
#include "quant_simd.inc"
}  // namespace nano

#undef QUANT_ROWS
#undef X8_ROWS
#undef QUANT_BUILD
#undef DOT_US
#undef MADD_ACC
#undef DPBUSD
#undef QUANT_X16
#pragma GCC pop_options

namespace nano {

bool avx512VnniQuantAvailable() {
  __builtin_cpu_init();
  return avx2QuantAvailable() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
}

QuantKernel avx512VnniQuantKernel() { return {"avx512-vnni", simdTile, QuantLayout::Interleaved16Q8Biased, quantizeActsAvx2}; }

}  // namespace nano

#else
namespace nano {
bool avx512VnniQuantAvailable() { return false; }
QuantKernel avx512VnniQuantKernel() { return portableQuantKernel(); }
}  // namespace nano
#endif
