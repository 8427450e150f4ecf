// The 16-lane float vector the tiled attention computes with, per instruction set: a GCC
// vector (one zmm on AVX-512, four xmm on the baseline) or, on AVX2, a pair of ymm (GCC 12
// spills 64-byte vectors through the stack there). Every operation is the same IEEE
// operation per lane in each (a multiply then an add, never fused; the same fixed trees
// across lanes), so the three copies of the attention compute bitwise the same values.
// Included by attention_flash.h only, inside its unnamed namespace, after NANO_FLASH_ISA.
#pragma once

#define NANO_INLINE __attribute__((always_inline)) inline

constexpr int kLanes = 16;

#if NANO_FLASH_ISA == 1
struct Vec {
  __m256 lo, hi;  // lanes 0..7, 8..15
};
NANO_INLINE Vec splat(float x) { return {_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
NANO_INLINE Vec loadV(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
NANO_INLINE Vec loadV(const _Float16* p) {
  const __m128i* h = reinterpret_cast<const __m128i*>(p);
  return {_mm256_cvtph_ps(_mm_loadu_si128(h)), _mm256_cvtph_ps(_mm_loadu_si128(h + 1))};
}
NANO_INLINE __m256 widenBf16(const Bf16* p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16));
}
NANO_INLINE Vec loadV(const Bf16* p) { return {widenBf16(p), widenBf16(p + 8)}; }
NANO_INLINE Vec loadCodes(const int8_t* p) {  // 16 int8 q8_0 codes, exactly
  const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return {_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(c)), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(c, 8)))};
}
NANO_INLINE void storeV(float* p, Vec v) { _mm256_storeu_ps(p, v.lo), _mm256_storeu_ps(p + 8, v.hi); }
NANO_INLINE Vec addV(Vec a, Vec b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
NANO_INLINE Vec subV(Vec a, Vec b) { return {_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
NANO_INLINE Vec mulV(Vec a, Vec b) { return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
NANO_INLINE Vec fmadd(Vec acc, float a, Vec b) {  // acc + a * b, rounded twice
  const __m256 s = _mm256_set1_ps(a);
  return {_mm256_add_ps(acc.lo, _mm256_mul_ps(s, b.lo)), _mm256_add_ps(acc.hi, _mm256_mul_ps(s, b.hi))};
}
NANO_INLINE Vec vmax(Vec a, Vec b) { return {_mm256_max_ps(a.lo, b.lo), _mm256_max_ps(a.hi, b.hi)}; }  // a > b ? a : b
NANO_INLINE Vec keepAtLeast(Vec x, float lo, Vec y) {  // x >= lo ? y : 0
  const __m256 l = _mm256_set1_ps(lo);
  return {_mm256_and_ps(_mm256_cmp_ps(x.lo, l, _CMP_GE_OQ), y.lo), _mm256_and_ps(_mm256_cmp_ps(x.hi, l, _CMP_GE_OQ), y.hi)};
}
NANO_INLINE Vec exponentScale(Vec n) {  // 2^n for integral n: the bits (n + 127) << 23
  const __m256i bias = _mm256_set1_epi32(127);
  return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n.lo), bias), 23)),
          _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n.hi), bias), 23))};
}
#else
typedef float Vec __attribute__((vector_size(64)));
typedef _Float16 HalfVec __attribute__((vector_size(32)));
typedef uint16_t U16Vec __attribute__((vector_size(32)));
typedef uint32_t U32Vec __attribute__((vector_size(64)));
typedef int32_t I32Vec __attribute__((vector_size(64)));
typedef int8_t I8Vec __attribute__((vector_size(16)));
// A broadcast, not Vec{} + x: that add (0 + x, which turns -0 into +0) stays under strict IEEE
// as a vaddss before every broadcast of a weight or q8_0 scale. No caller splats a -0 whose
// sign matters (scales are >= +0; exp(x - max) is the same for either zero).
#if NANO_FLASH_ISA == 2
NANO_INLINE Vec splat(float x) { return (Vec)_mm512_set1_ps(x); }
#else
NANO_INLINE Vec splat(float x) { return Vec{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
#endif
NANO_INLINE Vec loadV(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
#if NANO_FLASH_ISA == 2  // GCC 12 widens _Float16 vectors lane by lane in software: say vcvtph2ps
NANO_INLINE Vec loadV(const _Float16* p) { return (Vec)_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
NANO_INLINE Vec loadV(const Bf16* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return (Vec)_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
NANO_INLINE Vec loadCodes(const int8_t* p) {  // 16 int8 q8_0 codes, exactly
  return (Vec)_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
#else
NANO_INLINE Vec loadV(const _Float16* p) {
  HalfVec h;
  std::memcpy(&h, p, sizeof h);
  return __builtin_convertvector(h, Vec);
}
NANO_INLINE Vec loadV(const Bf16* p) {
  U16Vec h;
  std::memcpy(&h, p, sizeof h);
  const U32Vec bits = __builtin_convertvector(h, U32Vec) << 16;
  Vec v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}
NANO_INLINE Vec loadCodes(const int8_t* p) {  // 16 int8 q8_0 codes, exactly
  I8Vec c;
  std::memcpy(&c, p, sizeof c);
  return __builtin_convertvector(c, Vec);
}
#endif
NANO_INLINE void storeV(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }
NANO_INLINE Vec addV(Vec a, Vec b) { return a + b; }
NANO_INLINE Vec subV(Vec a, Vec b) { return a - b; }
NANO_INLINE Vec mulV(Vec a, Vec b) { return a * b; }
NANO_INLINE Vec fmadd(Vec acc, float a, Vec b) { return acc + a * b; }  // rounded twice
#if NANO_FLASH_ISA == 2
NANO_INLINE Vec vmax(Vec a, Vec b) { return (Vec)_mm512_max_ps((__m512)a, (__m512)b); }  // a > b ? a : b
NANO_INLINE Vec keepAtLeast(Vec x, float lo, Vec y) {
  return (Vec)_mm512_maskz_mov_ps(_mm512_cmp_ps_mask((__m512)x, _mm512_set1_ps(lo), _CMP_GE_OQ), (__m512)y);
}
#else  // whole-vector selects (compare and mask per xmm), not a loop over lanes
NANO_INLINE Vec vmax(Vec a, Vec b) { return a > b ? a : b; }
NANO_INLINE Vec keepAtLeast(Vec x, float lo, Vec y) { return x >= splat(lo) ? y : splat(0.0f); }
#endif
NANO_INLINE Vec exponentScale(Vec n) {
  const I32Vec bits = (__builtin_convertvector(n, I32Vec) + 127) << 23;
  Vec v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}
#endif

// exp(x) for x <= 0 (or -inf), as expFast (fast_math.h) computes it per lane: 0 below -87.3.
NANO_INLINE Vec expV(Vec x) {
  const float lo = -87.3f;
  const Vec shifter = splat(12582912.0f);
  const Vec c = vmax(x, splat(lo));
  const Vec n = subV(addV(mulV(c, splat(1.44269504088896341f)), shifter), shifter);
  Vec r = subV(c, mulV(n, splat(0.693145751953125f)));
  r = subV(r, mulV(n, splat(1.42860682030941723212e-6f)));
  Vec p = splat(1.0f / 720);
  const float coeffs[6] = {1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};
  for (float k : coeffs) p = addV(mulV(p, r), splat(k));
  return keepAtLeast(x, lo, mulV(p, exponentScale(n)));
}

// Lane folds in a fixed tree (8, 4, 2, 1 apart: l[j] = l[j] op l[j + w]), the same for every
// caller and every copy: on AVX2 and AVX-512 as halves added (or maxed) in registers, on the
// baseline through memory. a + b is b + a in IEEE, and maxps(a, b) is a > b ? a : b, so the
// register folds give the bits of the memory one.
#if NANO_FLASH_ISA == 0
NANO_INLINE float sumLanes(Vec v) {
  float l[kLanes];
  storeV(l, v);
  for (int w = kLanes / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) l[j] += l[j + w];
  return l[0];
}
NANO_INLINE float maxLanes(Vec v) {
  float l[kLanes];
  storeV(l, v);
  for (int w = kLanes / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) l[j] = l[j] > l[j + w] ? l[j] : l[j + w];
  return l[0];
}
#else
#if NANO_FLASH_ISA == 1
NANO_INLINE __m256 lowHalf(Vec v) { return v.lo; }
NANO_INLINE __m256 highHalf(Vec v) { return v.hi; }
#else
NANO_INLINE __m256 lowHalf(Vec v) { return _mm512_castps512_ps256((__m512)v); }
NANO_INLINE __m256 highHalf(Vec v) { return _mm512_extractf32x8_ps((__m512)v, 1); }
#endif
// The folds 4, 2 and 1 apart of the 8 lanes left after the first.
NANO_INLINE float sumOf8(__m256 a) {
  const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
}
NANO_INLINE float maxOf8(__m256 a) {
  const __m128 b = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 c = _mm_max_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(_mm_max_ss(c, _mm_shuffle_ps(c, c, 1)));
}
NANO_INLINE float sumLanes(Vec v) { return sumOf8(_mm256_add_ps(lowHalf(v), highHalf(v))); }
NANO_INLINE float maxLanes(Vec v) { return maxOf8(_mm256_max_ps(lowHalf(v), highHalf(v))); }
#endif
