#include "kv_cache.h"

namespace nano {

KvCache::KvCache(int numLayers, int numPages, int pageSize, int numKvHeads, int headDim)
    : numLayers_(numLayers), numPages_(numPages), pageSize_(pageSize), numKvHeads_(numKvHeads), headDim_(headDim) {
  size_t total = size_t(numLayers) * numPages * numKvHeads * pageSize * headDim;
  k_.assign(total, 0.0f);  // zeroed: a slot read before it is written holds 0, never garbage
  v_.assign(total, 0.0f);
}

}  // namespace nano
