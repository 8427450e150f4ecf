// Writes a step's keys and values into their page slots, in the pool's element type (the
// store of the step's Isa for f16), and q8_0's blocks: writeKv (attention.h).
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "attention.h"
#include "kv_element.h"

namespace nano {

namespace {

// One head's key and value at one slot: keys[d * ps] (the page's keys are (head_dim, slot)),
// values[d]; k and v: the head's head_dim floats.
template <class T>
using StoreHeadFn = void (*)(T* keys, int ps, T* values, const float* k, const float* v, int hd);

template <class T>
void storeHead(T* keys, int ps, T* values, const float* k, const float* v, int hd) {
  for (int d = 0; d < hd; ++d) storeKv(keys + size_t(d) * ps, k[d]);
  for (int d = 0; d < hd; ++d) storeKv(values + d, v[d]);
}

#if defined(__x86_64__)
// f16 through F16C's vcvtps2ph, round to nearest even: the bits of the _Float16 cast, which
// GCC 12 compiles to a libgcc call per element (12 % of a 32-sequence medium Q4_K_M step).
__attribute__((target("avx,f16c"))) void storeHeadF16c(_Float16* keys, int ps, _Float16* values, const float* k,
                                                       const float* v, int hd) {
  int d = 0;
  for (; d + 8 <= hd; d += 8) {
    alignas(16) uint16_t kh[8];
    _mm_store_si128(reinterpret_cast<__m128i*>(kh), _mm256_cvtps_ph(_mm256_loadu_ps(k + d), _MM_FROUND_TO_NEAREST_INT));
    for (int j = 0; j < 8; ++j) std::memcpy(keys + size_t(d + j) * ps, kh + j, 2);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(values + d), _mm256_cvtps_ph(_mm256_loadu_ps(v + d), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; d < hd; ++d) {
    const uint16_t kh = _cvtss_sh(k[d], _MM_FROUND_TO_NEAREST_INT), vh = _cvtss_sh(v[d], _MM_FROUND_TO_NEAREST_INT);
    std::memcpy(keys + size_t(d) * ps, &kh, 2);
    std::memcpy(values + d, &vh, 2);
  }
}
#endif

bool hasF16c() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

// The step's Isa picks the store, as it picks the kernels: a forced 'portable' stores f16 with
// the baseline conversion (no F16C), as a CPU without it does; both round to nearest even.
template <class T>
StoreHeadFn<T> storeHeadFn(Isa isa) {
#if defined(__x86_64__)
  static const bool isF16cUsable = hasF16c();
  if constexpr (std::is_same_v<T, _Float16>) {
    if (isa != Isa::Portable && isF16cUsable) {
      markBuild(CloneFamily::KvStore, Build::F16c);
      return storeHeadF16c;
    }
  }
#endif
  markBuild(CloneFamily::KvStore, Build::Portable);
  return storeHead<T>;
}

template <class T>
void writeKvAs(Isa isa, KvCache& kv, int layer, const ModelConfig& c, const float* qkv, int begin, int end,
               const TokenPages& at) {
  const StoreHeadFn<T> store = storeHeadFn<T>(isa);
  const int rowWidth = c.qDim() + 2 * c.kvDim();
  const int ps = kv.pageSize(), hd = c.headDim;
  for (int i = begin; i < end; ++i) {
    int pos = at.positions[i], slot = pos % ps;
    int page = at.pageTable[at.pageStart[at.tokenSeq[i]] + pos / ps];
    const float* k = qkv + size_t(i) * rowWidth + c.qDim();
    const float* v = k + c.kvDim();
    for (int h = 0; h < c.numKvHeads; ++h) {
      T* keys = kv.keys<T>(layer, page, h) + slot;                   // (head_dim, slot)
      T* values = kv.values<T>(layer, page, h) + size_t(slot) * hd;  // (head_dim) at the slot
      store(keys, ps, values, k + size_t(h) * hd, v + size_t(h) * hd, hd);
    }
  }
}

// q8_0: each kv head's key and value of a token quantized by block of head_dim (kv_cache.h):
// the key's codes down the page's (head_dim, slot) block and its scales down (block, slot),
// the value's codes and scales along its slot.
void writeKvQ8(KvCache& kv, int layer, const ModelConfig& c, const float* qkv, int begin, int end, const TokenPages& at) {
  markBuild(CloneFamily::KvStore, Build::Portable);  // one baseline build (kv_cache.cpp: quantizeKvQ8)
  const int rowWidth = c.qDim() + 2 * c.kvDim();
  const int ps = kv.pageSize(), hd = c.headDim, nb = kv.numScaleBlocks();
  for (int i = begin; i < end; ++i) {
    const int pos = at.positions[i], slot = pos % ps;
    const int page = at.pageTable[at.pageStart[at.tokenSeq[i]] + pos / ps];
    const float* k = qkv + size_t(i) * rowWidth + c.qDim();
    const float* v = k + c.kvDim();
    for (int h = 0; h < c.numKvHeads; ++h) {
      const Q8Ref keys = kv.keysQ8(layer, page, h), values = kv.valuesQ8(layer, page, h);
      quantizeKvQ8(k + size_t(h) * hd, hd, keys.q + slot, ps, keys.scale + slot, ps);
      quantizeKvQ8(v + size_t(h) * hd, hd, values.q + size_t(slot) * hd, 1, values.scale + size_t(slot) * nb, 1);
    }
  }
}

}  // namespace

void writeKv(Isa isa, KvCache& kv, int layer, const ModelConfig& c, const float* qkv, int begin, int end,
             const TokenPages& at) {
  switch (kv.dtype()) {
    case KvDtype::F32: return writeKvAs<float>(isa, kv, layer, c, qkv, begin, end, at);
    case KvDtype::F16: return writeKvAs<_Float16>(isa, kv, layer, c, qkv, begin, end, at);
    case KvDtype::Bf16: return writeKvAs<Bf16>(isa, kv, layer, c, qkv, begin, end, at);
    case KvDtype::Q8_0: return writeKvQ8(kv, layer, c, qkv, begin, end, at);
  }
}

}  // namespace nano
