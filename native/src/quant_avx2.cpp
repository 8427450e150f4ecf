// Quantized dot products, AVX2: vpmaddubsw + vpmaddwd (16 ymm registers: 4-row micro-tiles on
// the 8-column interleaved layout, every format; 2-row ones on GGUF rows, which only a tied
// output matrix (the token embedding's rows) keeps).
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
#pragma GCC target("avx2,fma,f16c")

#define QUANT_ROWS 2
#define X8_ROWS 4
#define QUANT_BUILD Build::Avx2
#define DOT_US(a, u, s) _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)))
#define MADD_ACC(a, p, s) _mm256_add_epi32(a, _mm256_madd_epi16(p, s))

namespace nano {
#include "quant_simd.inc"
}  // namespace nano

#undef QUANT_ROWS
#undef X8_ROWS
#undef QUANT_BUILD
#undef DOT_US
#undef MADD_ACC
#pragma GCC pop_options

namespace nano {

bool avx2QuantAvailable() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

QuantKernel avx2QuantKernel() { return {"avx2", simdTile, QuantLayout::Interleaved, quantizeActsAvx2}; }

}  // namespace nano

#else
namespace nano {
bool avx2QuantAvailable() { return false; }
QuantKernel avx2QuantKernel() { return portableQuantKernel(); }
}  // namespace nano
#endif
