#include "attention.h"

#include <algorithm>
#include <cmath>

#include "attention_block.h"

namespace nano {

namespace {

template <class T>
void writeKvAs(KvCache& kv, int layer, const ModelConfig& c, const float* qkv, int begin, int end,
               const TokenPages& at) {
  const int rowWidth = c.qDim() + 2 * c.kvDim();
  const int ps = kv.pageSize(), hd = c.headDim;
  for (int i = begin; i < end; ++i) {
    int pos = at.positions[i], slot = pos % ps;
    int page = at.pageTable[at.pageStart[at.tokenSeq[i]] + pos / ps];
    const float* k = qkv + size_t(i) * rowWidth + c.qDim();
    const float* v = k + c.kvDim();
    for (int h = 0; h < c.numKvHeads; ++h) {
      T* keys = kv.keys<T>(layer, page, h);                      // (head_dim, slot)
      T* values = kv.values<T>(layer, page, h) + size_t(slot) * hd;  // (head_dim) at the slot
      for (int d = 0; d < hd; ++d) storeKv(keys + size_t(d) * ps + slot, k[size_t(h) * hd + d]);
      for (int d = 0; d < hd; ++d) storeKv(values + d, v[size_t(h) * hd + d]);
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
