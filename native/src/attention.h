// Causal attention over the paged KV cache, for every (token, head) of a step.
#pragma once
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

// Writes each token's k and v (already rotated) into its page slot.
// qkv: (tok, qDim + 2 kvDim) rows of q | k | v.
void writeKv(KvCache& kv, int layer, const ModelConfig& config, const float* qkv, int numTokens,
             const TokenPages& where);

// out (tok, qDim) = softmax(q k^T / sqrt(headDim)) v over positions 0..pos of the token's
// sequence. Head h reads kv head h / (numHeads / numKvHeads).
// scores: (thread, scoresStride), scoresStride >= context rounded up to whole pages.
void attention(ThreadPool& pool, const KvCache& kv, int layer, const ModelConfig& config, const float* qkv,
               int numTokens, const TokenPages& where, float* scores, size_t scoresStride, float* out);

}  // namespace nano
