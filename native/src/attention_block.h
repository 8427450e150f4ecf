// One block of the tiled attention, as the kernel files see it: up to kBlockTokens
// adjacent tokens of one sequence and a range of kv heads (with their query heads), and
// the per-instruction-set kernels that attend it, one per KV element type.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "attention.h"
#include "fast_math.h"
#include "kv_element.h"

namespace nano {

struct FlashBlock {
  const KvCache* kv;
  int layer;
  LayerAttention la;  // score scale, soft-cap, window
  int g0, g1;         // kv heads [g0, g1)
  const float* qkv;
  int rowWidth;               // q of token i, head h: qkv + i * rowWidth + h * head_dim
  const int32_t* positions;   // (tok)
  const int32_t* pages;       // the sequence's page table
  int tokBegin, tokEnd;
  float* out;                 // (tok, qDim)
  float* scratch;             // AttentionScratch::floatsPerThread()
  int seg0, seg1;             // the key segments walked: [seg0, seg1) of each row's own
  // Null: a row folds its segments in the scratch as it walks them and writes its output.
  // Else the walk covers some of the rows' segments, and a row of several segments leaves
  // the partial (head_dim weighted values, max, sum) of segment s of (token t, head h) at
  // partials + ((t - partialTok0) * numHeads + h) * partialSegs + s - partialSeg0) * (head_dim + 2),
  // for foldSegment to fold after (a row of one segment still writes its output).
  float* partials;
  int partialTok0, partialSeg0, partialSegs;
};

// Folds a row's next segment (weighted values partAcc (hd), partStats [max, sum]) into what
// it holds (acc, stats): both rescaled to the larger max, then added. Plain scalar IEEE
// operations, compiled once (attention.cpp): every kernel path and every task split folds
// the same partials in the same order into the same bits.
void foldSegment(float* acc, float* stats, const float* partAcc, const float* partStats, int hd);

using FlashBlockFn = void (*)(const FlashBlock&, const AttentionScratch&);

FlashBlockFn portableFlashBlock(KvDtype dtype);
FlashBlockFn avx2FlashBlock(KvDtype dtype);    // AVX2 + FMA + F16C
FlashBlockFn avx512FlashBlock(KvDtype dtype);  // AVX-512 F/BW/VL/DQ + F16C

}  // namespace nano
