#include "attention.h"

#include <cmath>
#include <cstring>

#include "ops.h"

namespace nano {

void writeKv(KvCache& kv, int layer, const ModelConfig& c, const float* qkv, int numTokens, const TokenPages& at) {
  const int rowWidth = c.qDim() + 2 * c.kvDim();
  const int ps = kv.pageSize();
  for (int i = 0; i < numTokens; ++i) {
    int pos = at.positions[i];
    int page = at.pageTable[at.pageStart[at.tokenSeq[i]] + pos / ps];
    const float* k = qkv + size_t(i) * rowWidth + c.qDim();
    const float* v = k + c.kvDim();
    for (int h = 0; h < c.numKvHeads; ++h) {
      std::memcpy(kv.key(layer, page, h, pos % ps), k + size_t(h) * c.headDim, c.headDim * sizeof(float));
      std::memcpy(kv.value(layer, page, h, pos % ps), v + size_t(h) * c.headDim, c.headDim * sizeof(float));
    }
  }
}

// One query head of one token: scores over 0..pos in order, softmax, weighted sum of v in order.
static void attendOne(const KvCache& kv, int layer, const ModelConfig& c, const float* q, int kvHead, int pos,
                      const int32_t* pages, float* scores, float* out) {
  const int ps = kv.pageSize(), hd = c.headDim;
  const float scale = 1.0f / std::sqrt(float(hd));
  float maxScore = -INFINITY;
  for (int j = 0; j <= pos; ++j) {
    scores[j] = dot(q, kv.key(layer, pages[j / ps], kvHead, j % ps), hd) * scale;
    if (scores[j] > maxScore) maxScore = scores[j];
  }
  float sum = 0;
  for (int j = 0; j <= pos; ++j) {
    scores[j] = std::exp(scores[j] - maxScore);
    sum += scores[j];
  }
  for (int d = 0; d < hd; ++d) out[d] = 0;
  for (int j = 0; j <= pos; ++j) {
    const float* v = kv.value(layer, pages[j / ps], kvHead, j % ps);
    float w = scores[j];
    for (int d = 0; d < hd; ++d) out[d] += w * v[d];
  }
  float inv = 1.0f / sum;
  for (int d = 0; d < hd; ++d) out[d] *= inv;
}

void attention(ThreadPool& pool, const KvCache& kv, int layer, const ModelConfig& c, const float* qkv,
               int numTokens, const TokenPages& at, float* scores, float* out) {
  const int rowWidth = c.qDim() + 2 * c.kvDim();
  const int group = c.numHeads / c.numKvHeads;
  const int numTasks = numTokens * c.numHeads;
  pool.parallelFor(numTasks, numTasks / (8 * pool.size()) + 1, [&](int begin, int end, int t) {
    float* myScores = scores + size_t(t) * c.contextLength;
    for (int task = begin; task < end; ++task) {
      int i = int(task / c.numHeads), h = int(task % c.numHeads);
      const int32_t* pages = at.pageTable + at.pageStart[at.tokenSeq[i]];
      attendOne(kv, layer, c, qkv + size_t(i) * rowWidth + size_t(h) * c.headDim, h / group, at.positions[i],
                pages, myScores, out + size_t(i) * c.qDim() + size_t(h) * c.headDim);
    }
  });
}

}  // namespace nano
