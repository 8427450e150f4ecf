// The paged KV pool. Position p of a sequence lives in page pageTable[p / pageSize],
// slot p % pageSize. The TS page allocator decides which pages; this only stores them.
#pragma once
#include <cstddef>

#include "aligned.h"

namespace nano {

class KvCache {
 public:
  KvCache(int numLayers, int numPages, int pageSize, int numKvHeads, int headDim);

  // (head_dim, slot) block of keys of one kv head in one page: keys are stored transposed,
  // so scoring a query against a whole page is one multiply-add over slots per dim.
  float* keys(int layer, int page, int kvHead) { return k_.data() + offset(layer, page, kvHead, 0); }
  const float* keys(int layer, int page, int kvHead) const { return k_.data() + offset(layer, page, kvHead, 0); }
  // (head_dim) value vector of one kv head at one slot of one page.
  float* value(int layer, int page, int kvHead, int slot) { return v_.data() + offset(layer, page, kvHead, slot); }
  const float* value(int layer, int page, int kvHead, int slot) const { return v_.data() + offset(layer, page, kvHead, slot); }

  int pageSize() const { return pageSize_; }
  size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

 private:
  size_t offset(int layer, int page, int kvHead, int slot) const {
    return (((size_t(layer) * numPages_ + page) * numKvHeads_ + kvHead) * pageSize_ + slot) * headDim_;
  }

  int numLayers_, numPages_, pageSize_, numKvHeads_, headDim_;
  AlignedVec<float> k_;  // (layer, page, kv_head, head_dim, slot)
  AlignedVec<float> v_;  // (layer, page, kv_head, slot, head_dim)
};

}  // namespace nano
