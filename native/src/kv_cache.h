// The paged KV pool. Position p of a sequence lives in page pageTable[p / pageSize],
// slot p % pageSize. The TS page allocator decides which pages; this only stores them.
#pragma once
#include <cstddef>

#include "aligned.h"

namespace nano {

class KvCache {
 public:
  KvCache(int numLayers, int numPages, int pageSize, int numKvHeads, int headDim);

  // (head_dim) vector of one kv head at one slot of one page.
  float* key(int layer, int page, int kvHead, int slot) { return k_.data() + offset(layer, page, kvHead, slot); }
  float* value(int layer, int page, int kvHead, int slot) { return v_.data() + offset(layer, page, kvHead, slot); }
  const float* key(int layer, int page, int kvHead, int slot) const { return k_.data() + offset(layer, page, kvHead, slot); }
  const float* value(int layer, int page, int kvHead, int slot) const { return v_.data() + offset(layer, page, kvHead, slot); }

  int pageSize() const { return pageSize_; }
  size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

 private:
  size_t offset(int layer, int page, int kvHead, int slot) const {
    return (((size_t(layer) * numPages_ + page) * numKvHeads_ + kvHead) * pageSize_ + slot) * headDim_;
  }

  int numLayers_, numPages_, pageSize_, numKvHeads_, headDim_;
  AlignedVec<float> k_;  // (layer, page, kv_head, slot, head_dim)
  AlignedVec<float> v_;  // (layer, page, kv_head, slot, head_dim)
};

}  // namespace nano
