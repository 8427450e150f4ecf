// Causal attention over the paged KV cache, for every (token, head) of a step.
#pragma once
#include <cstddef>
#include <cstdint>

#include "config.h"
#include "kv_cache.h"
#include "thread_pool.h"

namespace nano {

// Where each token of the step sits: its position and its sequence's page table.
struct TokenPages {
  const int32_t* positions;  // (tok)
  const int32_t* tokenSeq;   // (tok) sequence index of each token
  const int32_t* pageTable;  // concatenated page ids
  const int32_t* pageStart;  // (seq + 1)
};

// What a layer's attention does beyond softmax(q k^T) v: the score scale (1 / sqrt(headDim) unless
// the model says otherwise), Gemma 2's soft-cap (0 = none), and the sliding window (keys at
// positions pos - window + 1 .. pos; 0 = all keys up to pos).
struct LayerAttention {
  float scale;
  float softcap;
  int window;
};
LayerAttention layerAttention(const ModelConfig& config, int layer);

// Writes the k and v (already rotated) of tokens [begin, end) into their page slots.
// qkv: (tok, qDim + 2 kvDim) rows of q | k | v.
void writeKv(KvCache& kv, int layer, const ModelConfig& config, const float* qkv, int begin, int end,
             const TokenPages& where);

// Per-thread scratch of the attention: scores of the query heads of `kvHeadsPerPass` kv heads
// (each row scoresStride long, scoresStride >= context rounded up to whole pages), then one
// 1 / sum per query head.
struct AttentionScratch {
  AttentionScratch(const ModelConfig& config, int pageSize);
  size_t floatsPerThread() const { return size_t(kvHeadsPerPass) * group * scoresStride + size_t(numHeads); }
  int numHeads, group, kvHeadsPerPass;
  size_t scoresStride;
};

// out (tok, qDim) = softmax(cap(q k^T * scale)) v over positions 0..pos (or the layer's window) of
// the token's sequence, for tokens [begin, end) on the calling thread. Head h reads kv head h / (numHeads /
// numKvHeads). A token's heads walk its pages together (page by page, kv head by kv head), but
// each (token, head) output is the same chain of operations whatever the split or batch.
void attendTokens(const KvCache& kv, int layer, const ModelConfig& config, const AttentionScratch& shape,
                  const float* qkv, int begin, int end, const TokenPages& where, float* scratch, float* out);

// The same over all numTokens tokens, split over the pool (scratch: one block per thread).
void attention(ThreadPool& pool, const KvCache& kv, int layer, const ModelConfig& config,
               const AttentionScratch& shape, const float* qkv, int numTokens, const TokenPages& where,
               float* scratch, float* out);

}  // namespace nano
