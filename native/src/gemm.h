// y[m, n] = sum_k x[m, k] * W[n, k] (+ bias[n]) over a PackedMatrix.
//
// Batch invariance: every y element is ONE accumulator chain over k = 0..K-1 in
// order (acc += x*w, or fma), started from zero, bias added last. Row tiling,
// column tiling and the thread split only decide WHO computes an element, never the
// order of its sum, so a row's result does not depend on M or on the other rows.
#pragma once
#include "isa.h"
#include "packed_matrix.h"
#include "thread_pool.h"

namespace nano {

// Computes all m rows of y for column panels [panelBegin, panelEnd) (16 columns each).
using GemmPanelsFn = void (*)(const float* x, int ldx, int m, const PackedMatrix& w, int panelBegin,
                              int panelEnd, const float* bias, float* y, int ldy);

// bf16 pair path (AVX512-BF16): activations rounded to bf16 pairs, weights in pair layout.
using GemmPairsFn = void (*)(const uint16_t* xPairs, int m, const PackedMatrix& w, int blockBegin, int blockEnd,
                             const float* bias, float* y, int ldy);
using ToPairsFn = void (*)(const float* x, int ldx, int rows, int k, uint16_t* out);

struct GemmKernel {
  const char* name;
  GemmPanelsFn run;                // f32 activations, column layout
  Isa isa = Isa::Portable;  // also the path of the attention, row ops and sampling that follow it
  // The narrowest column range (panels) worth giving a thread when m > 2 (a register tile's
  // width); one row or two run whole blocks, so each thread streams whole weight rows.
  int splitPanels = kBlockPanels;
  // Up to this many rows the column ranges go in one contiguous run per thread (tile_runs.h), as
  // for decode's one or two rows, so the block after a thread's range is its own next (the
  // kernel prefetches it); 0: decode's few rows only (tile_runs.h). The Intel tunings: kStreamedRows.
  int streamRows = 0;
  GemmPairsFn runPairs = nullptr;  // set when bf16 weights are packed in pair layout
  ToPairsFn toPairs = nullptr;
  bool usesPairs() const { return runPairs != nullptr; }
};

// Whether the AVX2 and AVX-512 kernels take their Intel tuning (K slices, prefetch): the CPU's
// vendor, or NANO_SERVING_GEMM_TUNING=intel|amd (auto: the vendor; anything else throws
// ERR_NATIVE_CONFIG). Tests force both on any CPU: the bits are the same, only the speed differs.
bool gemmTunesForIntel();

// Up to this many rows (batched decode, short prefill chunks) the Intel tunings stream each
// weight block once per row group and the row tiles share the next strip's prefetch into L2;
// with more, nothing is prefetched in software. Intel Xeon (family 6 model 167), 2 threads,
// 2026-12-04, gemm probe under SCHED_FIFO, medium's layers from DRAM at M = 64 / 128 with 48 ->
// 128 here: AVX-512 220 / 271 -> 275 / 301 GFLOP/s, its LM head at 64 214 -> 315; AVX2 155 /
// 164 -> 165 / 173, LM head at 64 144 -> 161; M = 256 and 512 went either way by 5 %.
constexpr int kStreamedRows = 128;

GemmKernel portableGemmKernel();
bool avx2GemmAvailable();  // CPU supports AVX2 and FMA (run-time check)
GemmKernel avx2GemmKernel();
bool avx512GemmAvailable();  // CPU supports AVX-512F/BW/VL/DQ (run-time check)
GemmKernel avx512GemmKernel();
bool avx512Bf16Available();  // ... and AVX512-BF16
GemmKernel avx512Bf16GemmKernel();

// Auto: AVX-512 when the CPU has it, else AVX2 + FMA, else portable. A `choice` other
// than Auto, else NANO_SERVING_KERNEL (portable | avx2 | avx512 | avx512-bf16), forces
// one; forcing a kernel the CPU lacks, or an unknown name, throws ERR_NATIVE_CONFIG.
// avx512-bf16 opts bf16 weights into vdpbf16ps (bf16 activations); avx-vnni (a quantized path)
// forces AVX2 here when the CPU has it, as a CPU with AVX-VNNI and no AVX-512 would run.
GemmKernel chooseGemmKernel(KernelChoice choice, WeightDtype dtype);

// Splits the column blocks over the pool's threads (never K). xPairs: scratch of
// m * (k + 1) bf16 for a pair-layout matrix; for a quantized one (w.quant), the quantized
// activations: m * quantActRowBytes(k) bytes (quant_gemm.h).
void gemm(ThreadPool& pool, const GemmKernel& kernel, const float* x, int ldx, int m, const PackedMatrix& w,
          const float* bias, float* y, int ldy, uint16_t* xPairs);

// The same on the calling thread only (all column blocks); xPairs: m * (k + 1) bf16 scratch.
void gemmSerial(const GemmKernel& kernel, const float* x, int ldx, int m, const PackedMatrix& w, const float* bias,
                float* y, int ldy, uint16_t* xPairs);

}  // namespace nano
