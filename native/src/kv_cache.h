// The paged KV pool. Position p of a sequence lives in page pageTable[p / pageSize],
// slot p % pageSize. The TS page allocator decides which pages; this only stores them.
// Elements are f32, 16-bit (f16 / bf16: half the memory and half the attention traffic;
// kv_element.h converts), or q8_0: int8 codes with one f32 scale per block of 32 values
// along head_dim (the last block 16 when head_dim is an odd multiple of 16; kv_q8.h), the
// codes in the layout of the other types and the scales beside them. The attention reads
// each element as the type of the pool: keys<T>() / values<T>() with T = KvElement<dtype>,
// keysQ8() / valuesQ8() for q8_0.
#pragma once
#include <cstddef>
#include <cstdint>

#include "aligned.h"
#include "config.h"

// Inlined into the attention kernels of every instruction set (the addresses are integer arithmetic).
#define NANO_KV_INLINE __attribute__((always_inline)) inline

namespace nano {

constexpr int kQ8Block = 32;  // values per q8_0 scale along head_dim

// One kv head's q8_0 codes and scales from some place of a page on.
template <class I, class F>
struct Q8RefOf {
  I* q;
  F* scale;
};
using Q8Ref = Q8RefOf<int8_t, float>;
using Q8ConstRef = Q8RefOf<const int8_t, const float>;

class KvCache {
 public:
  KvCache(int numLayers, int numPages, int pageSize, int numKvHeads, int headDim, KvDtype dtype = KvDtype::F32);

  // (head_dim, slot) block of keys of one kv head in one page: keys are stored transposed,
  // so scoring a query against a whole page is one multiply-add over slots per dim.
  template <class T>
  NANO_KV_INLINE T* keys(int layer, int page, int kvHead) { return base<T>(k32_, k16_) + offset(layer, page, kvHead, 0); }
  template <class T>
  NANO_KV_INLINE const T* keys(int layer, int page, int kvHead) const { return base<T>(k32_, k16_) + offset(layer, page, kvHead, 0); }
  // (slot, head_dim) values of one kv head in one page.
  template <class T>
  NANO_KV_INLINE T* values(int layer, int page, int kvHead) { return base<T>(v32_, v16_) + offset(layer, page, kvHead, 0); }
  template <class T>
  NANO_KV_INLINE const T* values(int layer, int page, int kvHead) const { return base<T>(v32_, v16_) + offset(layer, page, kvHead, 0); }

  // q8_0: the codes as keys<>() / values<>() lay them out; the scales of keys (block, slot)
  // (one per slot and block of head_dim, slots side by side as the keys' dims are), of
  // values (slot, block).
  NANO_KV_INLINE Q8Ref keysQ8(int layer, int page, int kvHead) {
    return {k8_.data() + offset(layer, page, kvHead, 0), kScale_.data() + scaleOffset(layer, page, kvHead)};
  }
  NANO_KV_INLINE Q8ConstRef keysQ8(int layer, int page, int kvHead) const {
    return {k8_.data() + offset(layer, page, kvHead, 0), kScale_.data() + scaleOffset(layer, page, kvHead)};
  }
  NANO_KV_INLINE Q8Ref valuesQ8(int layer, int page, int kvHead) {
    return {v8_.data() + offset(layer, page, kvHead, 0), vScale_.data() + scaleOffset(layer, page, kvHead)};
  }
  NANO_KV_INLINE Q8ConstRef valuesQ8(int layer, int page, int kvHead) const {
    return {v8_.data() + offset(layer, page, kvHead, 0), vScale_.data() + scaleOffset(layer, page, kvHead)};
  }

  KvDtype dtype() const { return dtype_; }
  int pageSize() const { return pageSize_; }
  int numScaleBlocks() const { return numScaleBlocks_; }  // q8_0 scales per head_dim
  size_t bytes() const {
    return (k32_.size() + v32_.size()) * sizeof(float) + (k16_.size() + v16_.size()) * 2 + k8_.size() + v8_.size() +
           (kScale_.size() + vScale_.size()) * sizeof(float);
  }

 private:
  NANO_KV_INLINE size_t offset(int layer, int page, int kvHead, int slot) const {
    return (((size_t(layer) * numKvHeads_ + kvHead) * numPages_ + page) * pageSize_ + slot) * headDim_;
  }
  NANO_KV_INLINE size_t scaleOffset(int layer, int page, int kvHead) const {
    return ((size_t(layer) * numKvHeads_ + kvHead) * numPages_ + page) * pageSize_ * numScaleBlocks_;
  }
  template <class T, class V32, class V16>
  NANO_KV_INLINE static T* base(V32& f32, V16& bits16) {
    static_assert(sizeof(T) == 4 || sizeof(T) == 2, "KV elements are 32 or 16 bits");
    if constexpr (sizeof(T) == 4) return reinterpret_cast<T*>(f32.data());
    else return reinterpret_cast<T*>(bits16.data());
  }
  template <class T, class V32, class V16>
  NANO_KV_INLINE static const T* base(const V32& f32, const V16& bits16) {
    if constexpr (sizeof(T) == 4) return reinterpret_cast<const T*>(f32.data());
    else return reinterpret_cast<const T*>(bits16.data());
  }

  int numLayers_, numPages_, pageSize_, numKvHeads_, headDim_, numScaleBlocks_;
  KvDtype dtype_;
  // (layer, kv_head, page, head_dim, slot) / (..., slot, head_dim) when f32: a kv head's pages
  // side by side, so a walk over a sequence's pages (mostly adjacent ids) streams.
  AlignedVec<float> k32_, v32_;
  AlignedVec<uint16_t> k16_, v16_;  // the same shapes, f16 or bf16 bits, when 16-bit
  AlignedVec<int8_t> k8_, v8_;      // the same shapes, q8_0 codes
  AlignedVec<float> kScale_, vScale_;  // q8_0: (layer, kv_head, page, block, slot) / (..., slot, block)
};

// q8_0 of n values x[0..n) (n a multiple of 16): per block of kQ8Block (the last one may be
// 16), scale = amax / 127 and code = round(x / scale) (half away from zero, as llama.cpp's
// q8_0: x times 1 / scale, rounded by roundf; scale 0 gives codes 0). Code i goes to
// q[i * qStride], block b's scale to scale[b * scaleStride]. Plain scalar code compiled once
// (kv_cache.cpp), so every kernel path stores the same bits.
void quantizeKvQ8(const float* x, int n, int8_t* q, size_t qStride, float* scale, size_t scaleStride);

}  // namespace nano
