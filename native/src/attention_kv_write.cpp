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

// The keys of a run of n tokens at adjacent slots of one page, for one kv head: keys[d * ps + t]
// (the page's keys are (head_dim, slot)) from k[t][d]. Stored dimension by dimension, so each of
// the page's lines is written for all the run's slots at once: token by token, one token's
// head_dim stores touch head_dim lines (all the kv heads': more than the L1 holds), and the
// next token reaches them again. The same element conversion either way, so the same bits.
constexpr int kMaxKeyRun = 16;  // tokens stored as one run (a page of the default 16 slots)
template <class T>
using StoreKeysFn = void (*)(T* keys, int ps, const float* const* k, int n, int hd);
// One token's value of one kv head at its slot: values[d] = v[d].
template <class T>
using StoreValuesFn = void (*)(T* values, const float* v, int hd);

template <class T>
void storeKeys(T* keys, int ps, const float* const* k, int n, int hd) {
  for (int d = 0; d < hd; ++d)
    for (int t = 0; t < n; ++t) storeKv(keys + size_t(d) * ps + t, k[t][d]);
}

template <class T>
void storeValues(T* values, const float* v, int hd) {
  for (int d = 0; d < hd; ++d) storeKv(values + d, v[d]);
}

#if defined(__x86_64__)
// f16 through F16C, round to nearest even: the bits of the _Float16 cast, which GCC 12
// compiles to a libgcc call per element (12 % of a 32-sequence medium Q4_K_M step).
__attribute__((target("avx,f16c"))) void storeKeysF16c(_Float16* keys, int ps, const float* const* k, int n, int hd) {
  for (int d = 0; d < hd; ++d)
    for (int t = 0; t < n; ++t) {
      const uint16_t h = _cvtss_sh(k[t][d], _MM_FROUND_TO_NEAREST_INT);
      std::memcpy(keys + size_t(d) * ps + t, &h, 2);
    }
}

__attribute__((target("avx,f16c"))) void storeValuesF16c(_Float16* values, const float* v, int hd) {
  int d = 0;
  for (; d + 8 <= hd; d += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(values + d), _mm256_cvtps_ph(_mm256_loadu_ps(v + d), _MM_FROUND_TO_NEAREST_INT));
  for (; d < hd; ++d) {
    const uint16_t h = _cvtss_sh(v[d], _MM_FROUND_TO_NEAREST_INT);
    std::memcpy(values + d, &h, 2);
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

template <class T>
struct KvStores {
  StoreKeysFn<T> keys;
  StoreValuesFn<T> values;
};

// The step's Isa picks the store, as it picks the kernels: a forced 'portable' stores f16 with
// the baseline conversion (no F16C), as a CPU without it does; both round to nearest even.
template <class T>
KvStores<T> kvStoresFor(Isa isa) {
#if defined(__x86_64__)
  static const bool isF16cUsable = hasF16c();
  if constexpr (std::is_same_v<T, _Float16>) {
    if (isa != Isa::Portable && isF16cUsable) {
      markBuild(CloneFamily::KvStore, Build::F16c);
      return {storeKeysF16c, storeValuesF16c};
    }
  }
#endif
  markBuild(CloneFamily::KvStore, Build::Portable);
  return {storeKeys<T>, storeValues<T>};
}

// Tokens [begin, end) in runs of adjacent slots of one page (one sequence's consecutive
// positions, at most kMaxKeyRun): each run's keys per kv head as one block, its values token by token.
template <class T>
void writeKvAs(Isa isa, KvCache& kv, int layer, const ModelConfig& c, const float* qkv, int begin, int end,
               const TokenPages& at) {
  const KvStores<T> store = kvStoresFor<T>(isa);
  const int rowWidth = c.qDim() + 2 * c.kvDim();
  const int ps = kv.pageSize(), hd = c.headDim;
  for (int i = begin; i < end;) {
    const int seq = at.tokenSeq[i], pos = at.positions[i], slot = pos % ps;
    int n = 1;
    while (i + n < end && n < kMaxKeyRun && slot + n < ps && at.tokenSeq[i + n] == seq && at.positions[i + n] == pos + n) ++n;
    const int page = at.pageTable[at.pageStart[seq] + pos / ps];
    for (int h = 0; h < c.numKvHeads; ++h) {
      const float* k[kMaxKeyRun];  // token t's key of head h
      for (int t = 0; t < n; ++t) k[t] = qkv + size_t(i + t) * rowWidth + c.qDim() + size_t(h) * hd;
      store.keys(kv.keys<T>(layer, page, h) + slot, ps, k, n, hd);
      T* values = kv.values<T>(layer, page, h) + size_t(slot) * hd;  // (slot, head_dim)
      for (int t = 0; t < n; ++t) store.values(values + size_t(t) * hd, k[t] + c.kvDim(), hd);
    }
    i += n;
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
