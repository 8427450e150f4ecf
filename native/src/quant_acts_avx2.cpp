// quantizeActs (quant_acts.cpp) 8 floats at a time, for the SIMD kernels. Every element goes
// through the same IEEE operations as the scalar code (|x|, x * inv, + 1.5 * 2^23, the int
// clamp); maxima and integer sums are exact in any order, and the scalar parts (scales,
// 127 / amax) are the scalar code's. So both give the same bits, and the quantized kernels'
// comparison with the portable path (which runs the scalar quantizer) checks this one too.
#include <cmath>
#include <cstring>

#include "quant_acts.h"
#include "isa.h"
#include "quant_format.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace nano {

#pragma GCC push_options
#pragma GCC target("avx2,f16c")

namespace {

// max(|x[0..n)|), NaN skipped as std::fmax does (vmaxps returns its second operand, the
// running maximum, when the other is NaN; the maximum starts at 0 and is never NaN).
inline float absMax(const float* x, int n) {
  const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), absMask), m);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, m);
  float amax = 0;
  for (float v : lanes) amax = amax > v ? amax : v;
  return amax;
}

// round-to-nearest-even(x[i] * inv) clamped to +-127, 8 values as int32 (quant_acts.cpp's nearestEven).
inline __m256i quant8(const float* x, __m256 inv) {
  const __m256 shifted = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x), inv), _mm256_set1_ps(12582912.0f));
  const __m256i bits = _mm256_castps_si256(shifted);
  const __m256i v = _mm256_sub_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x00400000));
  return _mm256_max_epi32(_mm256_min_epi32(v, _mm256_set1_epi32(127)), _mm256_set1_epi32(-127));
}

// Four vectors of 8 int32 (each within +-127) as 32 int8 in order.
inline void store32(int8_t* q, __m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

inline int32_t hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

void quantizeQ8_0(const float* x, int k, int8_t* q, float* d, int32_t* s) {
  for (int b = 0; b < k / 32; ++b) {
    const float* xb = x + b * 32;
    const float amax = absMax(xb, 32);
    const float scale = amax / 127;
    const __m256 inv = _mm256_set1_ps(amax != 0 ? 127.0f / amax : 0.0f);
    const __m256i v0 = quant8(xb, inv), v1 = quant8(xb + 8, inv), v2 = quant8(xb + 16, inv), v3 = quant8(xb + 24, inv);
    store32(q + b * 32, v0, v1, v2, v3);
    d[b] = halfToFloat(floatToHalf(scale));
    s[b] = hsum(_mm256_add_epi32(_mm256_add_epi32(v0, v1), _mm256_add_epi32(v2, v3)));
  }
}

void quantizeQ8K(const float* x, int k, int8_t* q, float* d, int16_t* bsums) {
  for (int b = 0; b < k / 256; ++b) {
    const float* xb = x + b * 256;
    const float amax = absMax(xb, 256);
    float max = 0;  // the first x of the largest |x| (the scalar loop keeps the first strict maximum)
    if (amax != 0)
      for (int i = 0; i < 256; ++i)
        if (std::fabs(xb[i]) == amax) {
          max = xb[i];
          break;
        }
    const float invScalar = amax != 0 ? -127.0f / max : 0.0f;
    const __m256 inv = _mm256_set1_ps(invScalar);
    for (int c = 0; c < 8; ++c) {
      const float* xc = xb + 32 * c;
      const __m256i v0 = quant8(xc, inv), v1 = quant8(xc + 8, inv), v2 = quant8(xc + 16, inv), v3 = quant8(xc + 24, inv);
      store32(q + b * 256 + 32 * c, v0, v1, v2, v3);
      bsums[b * 16 + 2 * c] = int16_t(hsum(_mm256_add_epi32(v0, v1)));
      bsums[b * 16 + 2 * c + 1] = int16_t(hsum(_mm256_add_epi32(v2, v3)));
    }
    d[b] = amax != 0 ? 1.0f / invScalar : 0.0f;
  }
}

}  // namespace

void quantizeActsAvx2(const float* x, int ldx, int m, int k, bool wantQ8_0, bool wantQ8K, uint8_t* scratch) {
  markBuild(CloneFamily::QuantActs, Build::Avx2);
  quantizeActRows(x, ldx, m, k, wantQ8_0, wantQ8K, scratch, {quantizeQ8_0, quantizeQ8K});
}

#pragma GCC pop_options

}  // namespace nano

#else
namespace nano {
void quantizeActsAvx2(const float* x, int ldx, int m, int k, bool wantQ8_0, bool wantQ8K, uint8_t* scratch) {
  quantizeActs(x, ldx, m, k, wantQ8_0, wantQ8K, scratch);
}
}  // namespace nano
#endif
