// Causal attention over the paged KV cache, for every (token, head) of a step, tiled
// flash-attention style: a block of up to kBlockTokens consecutive tokens of one
// sequence (all their heads) walks the pages once, sharing each K/V page, with an
// online softmax per (token, head) row. A row's operations depend only on its own
// position, the window and the KV contents, never on the block, the batch or the
// thread split: batch invariant.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "config.h"
#include "gemm.h"
#include "kv_cache.h"
#include "thread_pool.h"

namespace nano {

// Where each token of the step sits: its position and its sequence's page table.
struct TokenPages {
  const int32_t* positions;  // (tok)
  const int32_t* tokenSeq;   // (tok) sequence index of each token; a sequence's tokens are adjacent
  const int32_t* pageTable;  // concatenated page ids
  const int32_t* pageStart;  // (seq + 1)
};

// Writes the k and v (already rotated) of tokens [begin, end) into their page slots,
// converted to the pool's element type. qkv: (tok, qDim + 2 kvDim) rows of q | k | v.
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

constexpr int kBlockTokens = 16;  // query tokens that share a walk over the pages
constexpr int kTileKeys = 64;     // key positions per online-softmax step (a multiple of 16)

// The attention's shape and per-thread scratch: for a block's rows (token, head), the
// running sum of weighted values (head_dim), one tile of scores, the running max and sum;
// and the step's groups of tokens (one task each), reserved for maxTokens at load.
struct AttentionScratch {
  AttentionScratch(const ModelConfig& config, int pageSize, Isa isa, int maxTokens);
  size_t floatsPerThread() const { return size_t(kBlockTokens) * numHeads * rowFloats; }
  int numHeads, numKvHeads, group, headDim, pageSize;
  size_t rowFloats;  // head_dim + kTileKeys + 2
  Isa isa;           // instruction set of the kernel (follows the GEMM kernel)
  std::vector<int32_t> groupStart;  // (group + 1) a step's token groups: see attention()
};

// out (tok, qDim) = softmax(cap(q k^T * scale)) v over the keys of the token's sequence at
// positions pos - window + 1 .. pos (window 0: all of 0..pos), with the layer's scale, soft-cap
// and window (layerAttention), for tokens [begin, end) on the calling thread. Head h reads kv
// head h / (numHeads / numKvHeads).
void attendTokens(const KvCache& kv, int layer, const ModelConfig& config, const AttentionScratch& shape,
                  const float* qkv, int begin, int end, const TokenPages& where, float* scratch, float* out);

// The same over all numTokens tokens, split over the pool (scratch: one block per thread):
// tasks are groups of tokens x ranges of kv heads. A group is one block of a sequence's run
// (runs longer than kBlockTokens cut into blocks as even as they allow, so a prefill chunk's
// queries share each K/V read whatever the step's other sequences), or adjacent short runs
// (decodes) up to kBlockTokens tokens.
void attention(ThreadPool& pool, const KvCache& kv, int layer, const ModelConfig& config, AttentionScratch& shape,
               const float* qkv, int numTokens, const TokenPages& where, float* scratch, float* out);

}  // namespace nano
