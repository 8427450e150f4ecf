// The element types of the KV pool and their conversions: f32, f16 (IEEE binary16,
// GCC's _Float16) and bf16 (the top half of an f32, round to nearest even on store).
// Widening f16 or bf16 to f32 is exact, so a 16-bit pool changes only the rounding of
// what is stored, never the order of the attention's sums.
#pragma once
#include <cstdint>
#include <cstring>

#include "config.h"
#include "packed_matrix.h"  // floatToBf16

namespace nano {

struct Bf16 {
  uint16_t bits;
};
// The q8_0 pool's element tag: its codes and scales are read through Q8ConstRef (kv_cache.h).
struct Q8 {
  int8_t code;
};

template <KvDtype D>
struct KvElementOf;
template <>
struct KvElementOf<KvDtype::F32> { using type = float; };
template <>
struct KvElementOf<KvDtype::F16> { using type = _Float16; };
template <>
struct KvElementOf<KvDtype::Bf16> { using type = Bf16; };
template <>
struct KvElementOf<KvDtype::Q8_0> { using type = Q8; };

__attribute__((always_inline)) inline void storeKv(float* p, float x) { *p = x; }
__attribute__((always_inline)) inline void storeKv(_Float16* p, float x) { *p = static_cast<_Float16>(x); }
__attribute__((always_inline)) inline void storeKv(Bf16* p, float x) { p->bits = floatToBf16(x); }

__attribute__((always_inline)) inline float loadKv(const float* p) { return *p; }
__attribute__((always_inline)) inline float loadKv(const _Float16* p) { return static_cast<float>(*p); }
__attribute__((always_inline)) inline float loadKv(const Bf16* p) {
  uint32_t bits = uint32_t(p->bits) << 16;
  float x;
  std::memcpy(&x, &bits, 4);
  return x;
}

}  // namespace nano
