// The paged KV pool. Position p of a sequence lives in page pageTable[p / pageSize],
// slot p % pageSize. The TS page allocator decides which pages; this only stores them.
// Elements are f32, or 16-bit (f16 / bf16: half the memory and half the attention
// traffic); kv_element.h converts. The attention reads each element as the type of
// the pool, so call keys<T>() / value<T>() with T = KvElement<dtype>.
#pragma once
#include <cstddef>
#include <cstdint>

#include "aligned.h"
#include "config.h"

// Inlined into the attention kernels of every instruction set (the addresses are integer arithmetic).
#define NANO_KV_INLINE __attribute__((always_inline)) inline

namespace nano {

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

  KvDtype dtype() const { return dtype_; }
  int pageSize() const { return pageSize_; }
  size_t bytes() const { return (k32_.size() + v32_.size()) * sizeof(float) + (k16_.size() + v16_.size()) * 2; }

 private:
  NANO_KV_INLINE size_t offset(int layer, int page, int kvHead, int slot) const {
    return (((size_t(layer) * numKvHeads_ + kvHead) * numPages_ + page) * pageSize_ + slot) * headDim_;
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

  int numLayers_, numPages_, pageSize_, numKvHeads_, headDim_;
  KvDtype dtype_;
  // (layer, kv_head, page, head_dim, slot) / (..., slot, head_dim) when f32: a kv head's pages
  // side by side, so a walk over a sequence's pages (mostly adjacent ids) streams.
  AlignedVec<float> k32_, v32_;
  AlignedVec<uint16_t> k16_, v16_;  // the same shapes, f16 or bf16 bits, when 16-bit
};

}  // namespace nano
