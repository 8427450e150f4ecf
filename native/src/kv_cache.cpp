#include "kv_cache.h"

namespace nano {

KvCache::KvCache(int numLayers, int numPages, int pageSize, int numKvHeads, int headDim, KvDtype dtype)
    : numLayers_(numLayers), numPages_(numPages), pageSize_(pageSize), numKvHeads_(numKvHeads), headDim_(headDim),
      dtype_(dtype) {
  size_t total = size_t(numLayers) * numPages * numKvHeads * pageSize * headDim;
  // Zeroed: a slot read before it is written holds 0, never garbage.
  if (dtype == KvDtype::F32) {
    k32_.assign(total, 0.0f);
    v32_.assign(total, 0.0f);
  } else {
    k16_.assign(total, 0);
    v16_.assign(total, 0);
  }
}

}  // namespace nano
