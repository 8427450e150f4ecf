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

// Writes the k and v (already rotated) of tokens [begin, end) into their page slots, with the
// store of `isa` (the step's kernel's). qkv: (tok, qDim + 2 kvDim) rows of q | k | v.
void writeKv(Isa isa, KvCache& kv, int layer, const ModelConfig& config, const float* qkv, int begin, int end,
             const TokenPages& where);

constexpr int kBlockTokens = 16;  // query tokens that share a walk over the pages
constexpr int kTileKeys = 64;     // key positions per online-softmax step (a multiple of 16)
// A row's keys are attended in segments of kSegmentKeys positions at fixed offsets (0,
// kSegmentKeys, ...): each segment's online softmax starts afresh and gives a partial
// (running max, sum, weighted values); a row whose keys span several segments folds its
// partials in segment order (attention_block.h: foldSegment). A row within one segment
// gives exactly what a single online softmax gives. Where the segments of a row run (one
// task in order, or tasks on several threads whose partials are folded after) changes
// nothing in its bits, so one long row's keys can be split over the threads.
constexpr int kSegmentKeys = 16 * kTileKeys;

// The attention's shape and per-thread scratch: for a block's rows (token, head), the
// running sum of weighted values (head_dim), one tile of scores, the running max and sum,
// and the row's folded segments so far (head_dim + 2); the step's groups of tokens (see
// attention()), reserved for maxTokens at load, and the partials of the groups whose
// segments run as separate tasks (grown when a step needs more).
struct AttentionScratch {
  AttentionScratch(const ModelConfig& config, int pageSize, Isa isa, int maxTokens);
  size_t floatsPerThread() const { return size_t(kBlockTokens) * numHeads * rowFloats; }
  int numHeads, numKvHeads, group, headDim, pageSize;
  size_t rowFloats;  // 2 head_dim + kTileKeys + 4
  Isa isa;           // instruction set of the kernel (follows the GEMM kernel)
  // Whether a block over an f32 or 16-bit pool prefetches each next tile's K and V into L2
  // (attention_flash.h): not on an Intel CPU (isIntelCpu), where the hardware prefetcher
  // alone streams the pages faster, as for the f32 GEMM (README: Batched decode attention on
  // Intel). A q8_0 pool always prefetches: its arithmetic, not its bytes, bounds it there.
  bool isPrefetchingWideKv;
  std::vector<int32_t> groupStart;  // (group + 1) a step's token groups: see attention()
  // Per group: its first segment, its number of segments when they run as separate tasks
  // (0: one task walks them all), and where its partials start in `partials`.
  std::vector<int32_t> groupSeg0, groupSplit;
  std::vector<size_t> groupPartials;
  std::vector<double> groupCost;            // the group's work (keys attended, its K/V walk)
  std::vector<int32_t> taskGroup, taskSeg;  // the step's tasks before the kv-head split: group, segment (-1: all)
  std::vector<int32_t> taskOrder;           // those tasks, heaviest first (the order threads claim them in)
  std::vector<float> partials;  // (token of the group, head, segment, head_dim + 2) of split groups
  // NANO_SERVING_ATTENTION_SEGMENTS=tasks|inline (tests, benches): every group of several
  // segments split into segment tasks (1), none (-1); unset (0): by the step's work.
  int segmentTasks;
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
// (decodes) up to kBlockTokens tokens. A group whose task would be a large share of the
// step's work (a long row beside short ones, a lone decode at a long context) runs each of
// its key segments as its own task, and its partials are folded after, in segment order.
void attention(ThreadPool& pool, const KvCache& kv, int layer, const ModelConfig& config, AttentionScratch& shape,
               const float* qkv, int numTokens, const TokenPages& where, float* scratch, float* out);

}  // namespace nano
