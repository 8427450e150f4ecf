// y[m, n] = x[m, k] · W[n, k]^T (+ bias) over a QuantMatrix: each x row is quantized once
// (quant_acts.h), then every output is a chain of exact integer block dot products, each
// folded in with float fmas in block order:
//   Q8_0 / Q4_0: acc = fma(dw * dx, isum, acc) per 32-block
//   Q4_K / Q5_K: acc = fma(d * dx, sum_j sc_j isum_j, acc); acc = fma(-(dmin * dx), sum_j m_j xsum_j, acc)
//   Q6_K:        acc = fma(d * dx, sum_j sc_j (isum_j - 32 xsum_j), acc) per 256-block
// then y = acc + bias. Integer sums are exact whatever the instruction set, so every kernel
// (portable, AVX2, AVX-VNNI, AVX512-VNNI) gives the same bits, and a row's result never
// depends on the other rows, on the tiling or on the thread split (batch invariance).
#pragma once
#include "config.h"
#include "quant_acts.h"
#include "quant_matrix.h"
#include "thread_pool.h"

namespace nano {

// Columns [colBegin, colEnd) of part p, all m rows; acts: the m quantized rows.
using QuantTileFn = void (*)(const QuantMatrix& w, const QuantPart& p, const uint8_t* acts, int m, int colBegin,
                             int colEnd, const float* bias, float* y, int ldy);

struct QuantKernel {
  const char* name;
  QuantTileFn run;
  QuantLayout layout = QuantLayout::Rows;  // how it wants its matrices stored
  QuantizeActsFn quantize = quantizeActs;  // its activation quantizer (same bits whichever)
};

QuantKernel portableQuantKernel();
bool avx2QuantAvailable();       // AVX2 + FMA + F16C
QuantKernel avx2QuantKernel();
bool avxVnniQuantAvailable();    // ... and AVX-VNNI (VEX vpdpbusd / vpdpwssd)
QuantKernel avxVnniQuantKernel();
bool avx512VnniQuantAvailable(); // ... and AVX512-VNNI + AVX512VL (EVEX, 32 ymm registers)
QuantKernel avx512VnniQuantKernel();

// The fastest the CPU has, unless `choice` is Portable or NANO_SERVING_KERNEL names one:
// portable, avx2, avx-vnni, avx512-vnni (a path the CPU lacks falls back to the next one down).
QuantKernel chooseQuantKernel(KernelChoice choice);

// scratch: m * quantActRowBytes(w.k) bytes. Columns are split over the pool in 16-column tiles,
// claimed a few at a time (quant_gemm.cpp: tilesPerChunk); with at most 4 rows, in one
// contiguous run of tiles per thread (splitInRuns).
void quantGemm(ThreadPool& pool, const QuantKernel& kernel, const float* x, int ldx, int m, const QuantMatrix& w,
               const float* bias, float* y, int ldy, uint8_t* scratch);
void quantGemmSerial(const QuantKernel& kernel, const float* x, int ldx, int m, const QuantMatrix& w,
                     const float* bias, float* y, int ldy, uint8_t* scratch);

}  // namespace nano
