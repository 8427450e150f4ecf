#include "attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "fast_math.h"

namespace nano {

void writeKv(KvCache& kv, int layer, const ModelConfig& c, const float* qkv, int begin, int end,
             const TokenPages& at) {
  const int rowWidth = c.qDim() + 2 * c.kvDim();
  const int ps = kv.pageSize();
  for (int i = begin; i < end; ++i) {
    int pos = at.positions[i], slot = pos % ps;
    int page = at.pageTable[at.pageStart[at.tokenSeq[i]] + pos / ps];
    const float* k = qkv + size_t(i) * rowWidth + c.qDim();
    const float* v = k + c.kvDim();
    for (int h = 0; h < c.numKvHeads; ++h) {
      float* keys = kv.keys(layer, page, h);  // (head_dim, slot)
      for (int d = 0; d < c.headDim; ++d) keys[size_t(d) * ps + slot] = k[size_t(h) * c.headDim + d];
      std::memcpy(kv.value(layer, page, h, slot), v + size_t(h) * c.headDim, c.headDim * sizeof(float));
    }
  }
}

LayerAttention layerAttention(const ModelConfig& c, int layer) {
  return {c.attnScale > 0 ? c.attnScale : 1.0f / std::sqrt(float(c.headDim)), c.attnSoftcap, c.windowOf(layer)};
}

AttentionScratch::AttentionScratch(const ModelConfig& c, int pageSize)
    : numHeads(c.numHeads), group(c.numHeads / c.numKvHeads) {
  scoresStride = (size_t(c.contextLength) / pageSize + 1) * pageSize;
  // All kv heads of a token in one pass unless their scores would pass ~4 MB a thread.
  const size_t budget = size_t(1) << 20;
  size_t perKvHead = size_t(group) * scoresStride;
  kvHeadsPerPass = int(std::max<size_t>(1, std::min<size_t>(c.numKvHeads, budget / perKvHead)));
}

namespace {

// 16 floats as one GCC vector: AVX-512 in the avx512f clone, 4 x SSE in the default
// one; each lane does the same IEEE operations either way (no FMA contraction).
typedef float Vec16 __attribute__((vector_size(64)));
#define NANO_INLINE __attribute__((always_inline)) inline
NANO_INLINE Vec16 load16(const float* p) {
  Vec16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
NANO_INLINE void store16(float* p, Vec16 v) { std::memcpy(p, &v, sizeof v); }

constexpr int kMaxInterleave = 4;  // heads whose chains run side by side (for latency)

NANO_INLINE void prefetchBlock(const float* p, size_t floats) {
  const char* b = reinterpret_cast<const char*>(p);
  for (size_t off = 0; off < floats * sizeof(float); off += 64) __builtin_prefetch(b + off, 0, 3);
}

// For H heads: sc_h[0..16) = q_h . k_h for 16 slots of a transposed key block (head_dim, ps),
// one chain over d per slot.
template <int H>
NANO_INLINE void scoreHeads(const float* const* q, const float* const* keys, int hd, int ps, float* const* sc) {
  Vec16 acc[H] = {};
  for (int d = 0; d < hd; ++d)
    for (int h = 0; h < H; ++h) acc[h] += q[h][d] * load16(keys[h] + size_t(d) * ps);
  for (int h = 0; h < H; ++h) store16(sc[h], acc[h]);
}

// Same for one slot (page sizes that are not a multiple of 16).
NANO_INLINE float score1(const float* q, const float* keys, int hd, int ps) {
  float acc = 0;
  for (int d = 0; d < hd; ++d) acc += q[d] * keys[size_t(d) * ps];
  return acc;
}

// For H heads: acc_h[0..16) += w_h[j] v_h[j][0..16) over the `count` slots of one page, in slot
// order; each chain continues from acc (a float store and reload is exact). v rows are hd apart.
template <int H>
NANO_INLINE void weighHeads(const float* const* v, const float* const* w, int count, int hd, float* const* acc) {
  Vec16 a[H];
  for (int h = 0; h < H; ++h) a[h] = load16(acc[h]);
  for (int j = 0; j < count; ++j)
    for (int h = 0; h < H; ++h) a[h] += w[h][j] * load16(v[h] + size_t(j) * hd);
  for (int h = 0; h < H; ++h) store16(acc[h], a[h]);
}

// The query heads of kv heads [g0, g1) of one token. Per head: scores over 0..pos in page
// order (each one chain over head_dim), softmax, then the weighted sum of v in position
// order. The heads walk the pages together, up to kMaxInterleave chains side by side.
// Compiled twice (AVX-512 and baseline); both do the same IEEE operations per lane.
__attribute__((target_clones("avx512f", "default")))
void attendHeads(const KvCache& kv, int layer, int headDim, int group, const LayerAttention& la, const float* q, int g0,
                 int g1, int pos, const int32_t* pages, float* scores, size_t stride, float* inv, float* out) {
  const int ps = kv.pageSize(), hd = headDim;
  const int numPages = pos / ps + 1, n = pos + 1;
  // A sliding window keeps the keys at positions > pos - window (transformers' sliding mask).
  const int start = la.window > 0 ? std::max(0, pos - la.window + 1) : 0, firstPage = start / ps;
  const int h0 = g0 * group, h1 = g1 * group;
  const float* qs[kMaxInterleave];
  const float* ks[kMaxInterleave];
  float* scs[kMaxInterleave];
  const size_t kvBlock = size_t(hd) * ps * (g1 - g0);  // floats of kv heads [g0, g1) in one page
  for (int p = firstPage; p < numPages; ++p) {
    // The page's V, needed after the softmax, streams in while its K is scored, and the next
    // page's K starts (a sequence's pages are scattered: the hardware cannot guess them).
    prefetchBlock(kv.value(layer, pages[p], g0, 0), kvBlock);
    if (p + 1 < numPages) prefetchBlock(kv.keys(layer, pages[p + 1], g0), kvBlock);
    for (int hb = h0; hb < h1; hb += kMaxInterleave) {
      const int nh = std::min(kMaxInterleave, h1 - hb);
      for (int i = 0; i < nh; ++i) {
        const int h = hb + i;
        qs[i] = q + size_t(h) * hd;
        ks[i] = kv.keys(layer, pages[p], h / group);  // (head_dim, slot)
        scs[i] = scores + size_t(h - h0) * stride + size_t(p) * ps;
      }
      int j0 = 0;
      for (; ps - j0 >= 16; j0 += 16) {
        const float* kj[kMaxInterleave];
        float* sj[kMaxInterleave];
        for (int i = 0; i < nh; ++i) kj[i] = ks[i] + j0, sj[i] = scs[i] + j0;
        switch (nh) {
          case 4: scoreHeads<4>(qs, kj, hd, ps, sj); break;
          case 3: scoreHeads<3>(qs, kj, hd, ps, sj); break;
          case 2: scoreHeads<2>(qs, kj, hd, ps, sj); break;
          default: scoreHeads<1>(qs, kj, hd, ps, sj); break;
        }
      }
      for (; j0 < ps; ++j0)
        for (int i = 0; i < nh; ++i) scs[i][j0] = score1(qs[i], ks[i] + j0, hd, ps);
    }
  }
  for (int h = h0; h < h1; ++h) {
    float* sc = scores + size_t(h - h0) * stride;
    for (int j = start; j < n; ++j) sc[j] *= la.scale;
    if (la.softcap > 0)
      for (int j = start; j < n; ++j) sc[j] = std::tanh(sc[j] / la.softcap) * la.softcap;
    const float maxScore = maxOf(sc + start, n - start);
    for (int j = start; j < n; ++j) sc[j] = expFast(sc[j] - maxScore);
    inv[h - h0] = 1.0f / sumFixed(sc + start, n - start);
  }
  std::memset(out + size_t(h0) * hd, 0, size_t(h1 - h0) * hd * sizeof(float));
  const float* vs[kMaxInterleave];
  const float* ws[kMaxInterleave];
  float* as[kMaxInterleave];
  for (int p = firstPage; p < numPages; ++p) {
    const int j0 = p == firstPage ? start - p * ps : 0;  // slots before the window's first key
    const int count = std::min(ps, n - p * ps) - j0;
    for (int hb = h0; hb < h1; hb += kMaxInterleave) {
      const int nh = std::min(kMaxInterleave, h1 - hb);
      int d0 = 0;
      for (; hd - d0 >= 16; d0 += 16) {
        for (int i = 0; i < nh; ++i) {
          const int h = hb + i;
          vs[i] = kv.value(layer, pages[p], h / group, j0) + d0;  // (slot, head_dim)
          ws[i] = scores + size_t(h - h0) * stride + size_t(p) * ps + j0;
          as[i] = out + size_t(h) * hd + d0;
        }
        switch (nh) {
          case 4: weighHeads<4>(vs, ws, count, hd, as); break;
          case 3: weighHeads<3>(vs, ws, count, hd, as); break;
          case 2: weighHeads<2>(vs, ws, count, hd, as); break;
          default: weighHeads<1>(vs, ws, count, hd, as); break;
        }
      }
      for (; d0 < hd; ++d0) {  // a head_dim that is not a multiple of 16
        for (int h = hb; h < hb + nh; ++h) {
          const float* values = kv.value(layer, pages[p], h / group, j0);
          const float* w = scores + size_t(h - h0) * stride + size_t(p) * ps + j0;
          float a = out[size_t(h) * hd + d0];
          for (int j = 0; j < count; ++j) a += w[j] * values[size_t(j) * hd + d0];
          out[size_t(h) * hd + d0] = a;
        }
      }
    }
  }
  for (int h = h0; h < h1; ++h) {
    float* o = out + size_t(h) * hd;
    const float f = inv[h - h0];
    for (int d = 0; d < hd; ++d) o[d] = o[d] * f;
  }
}

}  // namespace

void attendTokens(const KvCache& kv, int layer, const ModelConfig& c, const AttentionScratch& shape,
                  const float* qkv, int begin, int end, const TokenPages& at, float* scratch, float* out) {
  const int rowWidth = c.qDim() + 2 * c.kvDim();
  const LayerAttention la = layerAttention(c, layer);
  float* inv = scratch + size_t(shape.kvHeadsPerPass) * shape.group * shape.scoresStride;
  for (int i = begin; i < end; ++i) {
    const int32_t* pages = at.pageTable + at.pageStart[at.tokenSeq[i]];
    for (int g0 = 0; g0 < c.numKvHeads; g0 += shape.kvHeadsPerPass) {
      int g1 = std::min(c.numKvHeads, g0 + shape.kvHeadsPerPass);
      attendHeads(kv, layer, c.headDim, shape.group, la, qkv + size_t(i) * rowWidth, g0, g1, at.positions[i], pages,
                  scratch, shape.scoresStride, inv, out + size_t(i) * c.qDim());
    }
  }
}

void attention(ThreadPool& pool, const KvCache& kv, int layer, const ModelConfig& c, const AttentionScratch& shape,
               const float* qkv, int numTokens, const TokenPages& at, float* scratch, float* out) {
  const size_t perThread = shape.floatsPerThread();
  if (numTokens >= 4 * pool.size()) {
    pool.parallelFor(numTokens, numTokens / (8 * pool.size()) + 1, [&](int begin, int end, int t) {
      attendTokens(kv, layer, c, shape, qkv, begin, end, at, scratch + size_t(t) * perThread, out);
    });
    return;
  }
  // Few tokens: a task per (token, kv head).
  const int rowWidth = c.qDim() + 2 * c.kvDim();
  const LayerAttention la = layerAttention(c, layer);
  pool.forEachChunk(numTokens * c.numKvHeads, [&](int task, int t) {
    int i = task / c.numKvHeads, g = task % c.numKvHeads;
    float* mine = scratch + size_t(t) * perThread;
    attendHeads(kv, layer, c.headDim, shape.group, la, qkv + size_t(i) * rowWidth, g, g + 1, at.positions[i],
                at.pageTable + at.pageStart[at.tokenSeq[i]], mine, shape.scoresStride,
                mine + size_t(shape.kvHeadsPerPass) * shape.group * shape.scoresStride, out + size_t(i) * c.qDim());
  });
}

}  // namespace nano
