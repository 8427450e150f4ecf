#include "attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "attention_block.h"

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

template <class T>
StoreHeadFn<T> storeHeadFn() {
#if defined(__x86_64__)
  if constexpr (std::is_same_v<T, _Float16>) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c")) return storeHeadF16c;
  }
#endif
  return storeHead<T>;
}

template <class T>
void writeKvAs(KvCache& kv, int layer, const ModelConfig& c, const float* qkv, int begin, int end,
               const TokenPages& at) {
  static const StoreHeadFn<T> store = storeHeadFn<T>();
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

using BlockFn = FlashBlockFn;

BlockFn blockFn(const KvCache& kv, Isa isa) {
  if (isa == Isa::Avx512) return avx512FlashBlock(kv.dtype());
  if (isa == Isa::Avx2) return avx2FlashBlock(kv.dtype());
  return portableFlashBlock(kv.dtype());
}

// Attends tokens [begin, end) (any sequences), kv heads [g0, g1), in blocks of at most
// kBlockTokens adjacent tokens of one sequence.
void attendRange(BlockFn fn, const KvCache& kv, int layer, const LayerAttention& la, const AttentionScratch& sh, const float* qkv,
                 int begin, int end, int g0, int g1, const TokenPages& at, float* scratch, float* out) {
  const int rowWidth = (sh.numHeads + 2 * sh.numKvHeads) * sh.headDim;
  for (int i = begin; i < end;) {
    const int seq = at.tokenSeq[i];
    int j = i + 1;
    while (j < end && j - i < kBlockTokens && at.tokenSeq[j] == seq) ++j;
    const FlashBlock b{&kv, layer, la, g0, g1, qkv, rowWidth, at.positions, at.pageTable + at.pageStart[seq],
                       i, j, out, scratch};
    fn(b, sh);
    i = j;
  }
}

}  // namespace

void writeKv(KvCache& kv, int layer, const ModelConfig& c, const float* qkv, int begin, int end,
             const TokenPages& at) {
  switch (kv.dtype()) {
    case KvDtype::F32: return writeKvAs<float>(kv, layer, c, qkv, begin, end, at);
    case KvDtype::F16: return writeKvAs<_Float16>(kv, layer, c, qkv, begin, end, at);
    case KvDtype::Bf16: return writeKvAs<Bf16>(kv, layer, c, qkv, begin, end, at);
  }
}

LayerAttention layerAttention(const ModelConfig& c, int layer) {
  return {c.attnScale > 0 ? c.attnScale : 1.0f / std::sqrt(float(c.headDim)), c.attnSoftcap, c.windowOf(layer)};
}

AttentionScratch::AttentionScratch(const ModelConfig& c, int ps, Isa kernelIsa, int maxTokens)
    : numHeads(c.numHeads), numKvHeads(c.numKvHeads), group(c.numHeads / c.numKvHeads), headDim(c.headDim),
      pageSize(ps), rowFloats(size_t(c.headDim) + kTileKeys + 2), isa(kernelIsa) {
  groupStart.reserve(size_t(maxTokens) + 1);
}

void attendTokens(const KvCache& kv, int layer, const ModelConfig& c, const AttentionScratch& sh, const float* qkv,
                  int begin, int end, const TokenPages& at, float* scratch, float* out) {
  attendRange(blockFn(kv, sh.isa), kv, layer, layerAttention(c, layer), sh, qkv, begin, end, 0, sh.numKvHeads, at, scratch, out);
}

// Fills sh.groupStart with the step's token groups (see attention.h); returns their number.
static int groupTokens(AttentionScratch& sh, int numTokens, const TokenPages& at) {
  std::vector<int32_t>& g = sh.groupStart;
  g.clear();
  g.push_back(0);
  for (int a = 0; a < numTokens;) {
    int b = a + 1;
    while (b < numTokens && at.tokenSeq[b] == at.tokenSeq[a]) ++b;
    const int len = b - a;
    if (len <= kBlockTokens) {
      if (b - g.back() > kBlockTokens) g.push_back(a);  // the run starts a new group of short runs
    } else {
      if (a > g.back()) g.push_back(a);
      const int numBlocks = (len + kBlockTokens - 1) / kBlockTokens;
      for (int k = 1; k < numBlocks; ++k) g.push_back(a + int(int64_t(len) * k / numBlocks));
      g.push_back(b);
    }
    a = b;
  }
  if (g.back() < numTokens) g.push_back(numTokens);
  return int(g.size()) - 1;
}

void attention(ThreadPool& pool, const KvCache& kv, int layer, const ModelConfig& c, AttentionScratch& sh,
               const float* qkv, int numTokens, const TokenPages& at, float* scratch, float* out) {
  const BlockFn fn = blockFn(kv, sh.isa);
  const LayerAttention la = layerAttention(c, layer);
  const size_t perThread = sh.floatsPerThread();
  // Tasks: groups x ranges of kv heads, at least ~4 per thread when the step has few groups.
  const int numGroups = groupTokens(sh, numTokens, at);
  const int wantSplits = (4 * pool.size() + numGroups - 1) / numGroups;
  const int headsPerTask = std::max(1, sh.numKvHeads / std::max(1, wantSplits));
  const int numHeadTasks = (sh.numKvHeads + headsPerTask - 1) / headsPerTask;
  const int32_t* groupStart = sh.groupStart.data();
  pool.forEachChunk(numGroups * numHeadTasks, [&](int task, int t) {
    const int tg = task / numHeadTasks, g0 = (task % numHeadTasks) * headsPerTask;
    attendRange(fn, kv, layer, la, sh, qkv, groupStart[tg], groupStart[tg + 1], g0, std::min(sh.numKvHeads, g0 + headsPerTask),
                at, scratch + size_t(t) * perThread, out);
  });
}

}  // namespace nano
