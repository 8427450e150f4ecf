#include "kv_cache.h"

#include <cmath>

namespace nano {

KvCache::KvCache(int numLayers, int numPages, int pageSize, int numKvHeads, int headDim, KvDtype dtype)
    : numLayers_(numLayers), numPages_(numPages), pageSize_(pageSize), numKvHeads_(numKvHeads), headDim_(headDim),
      numScaleBlocks_((headDim + kQ8Block - 1) / kQ8Block), dtype_(dtype) {
  size_t total = size_t(numLayers) * numPages * numKvHeads * pageSize * headDim;
  // Zeroed: a slot read before it is written holds 0, never garbage.
  if (dtype == KvDtype::F32) {
    k32_.assign(total, 0.0f);
    v32_.assign(total, 0.0f);
  } else if (dtype == KvDtype::Q8_0) {
    const size_t scales = size_t(numLayers) * numPages * numKvHeads * pageSize * numScaleBlocks_;
    k8_.assign(total, 0);
    v8_.assign(total, 0);
    kScale_.assign(scales, 0.0f);
    vScale_.assign(scales, 0.0f);
  } else {
    k16_.assign(total, 0);
    v16_.assign(total, 0);
  }
}

void quantizeKvQ8(const float* x, int n, int8_t* q, size_t qStride, float* scale, size_t scaleStride) {
  for (int b0 = 0, b = 0; b0 < n; b0 += kQ8Block, ++b) {
    const int b1 = b0 + kQ8Block < n ? b0 + kQ8Block : n;
    float amax = 0;
    for (int i = b0; i < b1; ++i) amax = std::fabs(x[i]) > amax ? std::fabs(x[i]) : amax;
    const float s = amax / 127.0f, inv = s != 0 ? 1.0f / s : 0.0f;
    for (int i = b0; i < b1; ++i) {
      const float r = std::roundf(x[i] * inv);  // NaN (a non-finite value in the block) stores 0
      q[size_t(i) * qStride] = int8_t(r > 127.0f ? 127.0f : r < -127.0f ? -127.0f : r == r ? r : 0.0f);
    }
    scale[size_t(b) * scaleStride] = s;
  }
}

}  // namespace nano
