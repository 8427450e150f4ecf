// One block of the tiled attention, as the kernel files see it: up to kBlockTokens
// adjacent tokens of one sequence and a range of kv heads (with their query heads), and
// the per-instruction-set kernels that attend it, one per KV element type.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
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
};

using FlashBlockFn = void (*)(const FlashBlock&, const AttentionScratch&);

FlashBlockFn portableFlashBlock(KvDtype dtype);
FlashBlockFn avx2FlashBlock(KvDtype dtype);    // AVX2 + FMA + F16C
FlashBlockFn avx512FlashBlock(KvDtype dtype);  // AVX-512 F/BW/VL/DQ + F16C

}  // namespace nano
