#include "attention.h"

#include <cmath>
#include <cstring>

#include "fast_math.h"

namespace nano {


void writeKv(KvCache& kv, int layer, const ModelConfig& c, const float* qkv, int numTokens, const TokenPages& at) {
  const int rowWidth = c.qDim() + 2 * c.kvDim();
  const int ps = kv.pageSize();
  for (int i = 0; i < numTokens; ++i) {
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

// 16 floats as one GCC vector: AVX-512 in the avx512f clone, 4 x SSE in the default
// one; each lane does the same IEEE operations either way (no FMA contraction).
typedef float Vec16 __attribute__((vector_size(64)));
inline Vec16 load16(const float* p) {
  Vec16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store16(float* p, Vec16 v) { std::memcpy(p, &v, sizeof v); }

// scores[0..16) = q . k for 16 slots of a transposed key block (head_dim, ps): one chain over d per slot.
inline void score16(const float* q, const float* keys, int hd, int ps, float* scores) {
  Vec16 acc = {};
  for (int d = 0; d < hd; ++d) acc += q[d] * load16(keys + size_t(d) * ps);
  store16(scores, acc);
}

// Same for one slot (page sizes that are not a multiple of 16).
inline float score1(const float* q, const float* keys, int hd, int ps) {
  float acc = 0;
  for (int d = 0; d < hd; ++d) acc += q[d] * keys[size_t(d) * ps];
  return acc;
}

// out[d0 .. d0 + 16G) = inv * sum_j w_j v_j over j = 0..n-1 in order: one chain over positions per dim.
template <int G>
inline void weighValues(const KvCache& kv, int layer, int kvHead, const int32_t* pages, const float* w, int n,
                        float inv, int d0, float* out) {
  const int ps = kv.pageSize();
  Vec16 acc[G] = {};
  for (int j = 0; j < n; ++j) {
    const float* v = kv.value(layer, pages[j / ps], kvHead, j % ps) + d0;
    for (int g = 0; g < G; ++g) acc[g] += w[j] * load16(v + 16 * g);
  }
  for (int g = 0; g < G; ++g) store16(out + d0 + 16 * g, acc[g] * inv);
}

// One query head of one token: scores over 0..pos in page order (each score one chain
// over head_dim), softmax, then the weighted sum of v in position order.
// Compiled twice (AVX-512 and baseline); both do the same IEEE operations per lane.
__attribute__((target_clones("avx512f", "default")))
static void attendOne(const KvCache& kv, int layer, int headDim, const float* q, int kvHead, int pos,
                      const int32_t* pages, float* scores, float* out) {
  const int ps = kv.pageSize(), hd = headDim;
  const int numPages = pos / ps + 1;
  for (int p = 0; p < numPages; ++p) {
    const float* keys = kv.keys(layer, pages[p], kvHead);  // (head_dim, slot)
    for (int j0 = 0; j0 < ps; j0 += 16) {
      if (ps - j0 >= 16) {
        score16(q, keys + j0, hd, ps, scores + size_t(p) * ps + j0);
      } else {
        for (int j = j0; j < ps; ++j) scores[size_t(p) * ps + j] = score1(q, keys + j, hd, ps);
      }
    }
  }
  const int n = pos + 1;
  const float scale = 1.0f / std::sqrt(float(hd));
  for (int j = 0; j < n; ++j) scores[j] *= scale;
  const float maxScore = maxOf(scores, n);
  for (int j = 0; j < n; ++j) scores[j] = expFast(scores[j] - maxScore);
  const float inv = 1.0f / sumFixed(scores, n);
  int d0 = 0;
  for (; hd - d0 >= 64; d0 += 64) weighValues<4>(kv, layer, kvHead, pages, scores, n, inv, d0, out);
  if (hd - d0 >= 48) weighValues<3>(kv, layer, kvHead, pages, scores, n, inv, d0, out), d0 += 48;
  if (hd - d0 >= 32) weighValues<2>(kv, layer, kvHead, pages, scores, n, inv, d0, out), d0 += 32;
  if (hd - d0 >= 16) weighValues<1>(kv, layer, kvHead, pages, scores, n, inv, d0, out), d0 += 16;
  for (; d0 < hd; ++d0) {  // a head_dim that is not a multiple of 16
    float acc = 0;
    for (int j = 0; j < n; ++j) acc += scores[j] * kv.value(layer, pages[j / ps], kvHead, j % ps)[d0];
    out[d0] = acc * inv;
  }
}

void attention(ThreadPool& pool, const KvCache& kv, int layer, const ModelConfig& c, const float* qkv,
               int numTokens, const TokenPages& at, float* scores, size_t scoresStride, float* out) {
  const int rowWidth = c.qDim() + 2 * c.kvDim();
  const int group = c.numHeads / c.numKvHeads;
  const int numTasks = numTokens * c.numHeads;
  pool.parallelFor(numTasks, numTasks / (8 * pool.size()) + 1, [&](int begin, int end, int t) {
    float* myScores = scores + size_t(t) * scoresStride;
    for (int task = begin; task < end; ++task) {
      int i = task / c.numHeads, h = task % c.numHeads;
      const int32_t* pages = at.pageTable + at.pageStart[at.tokenSeq[i]];
      attendOne(kv, layer, c.headDim, qkv + size_t(i) * rowWidth + size_t(h) * c.headDim, h / group,
                at.positions[i], pages, myScores, out + size_t(i) * c.qDim() + size_t(h) * c.headDim);
    }
  });
}

}  // namespace nano
