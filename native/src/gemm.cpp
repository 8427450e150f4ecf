#include "gemm.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "errors.h"
#include "tile_runs.h"

namespace nano {

bool avx512GemmAvailable() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

bool gemmTunesForIntel() {
  const char* env = std::getenv("NANO_SERVING_GEMM_TUNING");
  if (!env || !*env || std::strcmp(env, "auto") == 0) return isIntelCpu();
  if (std::strcmp(env, "intel") != 0 && std::strcmp(env, "amd") != 0)
    throw CodedError("ERR_NATIVE_CONFIG", std::string("NANO_SERVING_GEMM_TUNING must be auto, intel or amd, got '") + env + "'");
  return std::strcmp(env, "intel") == 0;
}

namespace {

struct Forced {
  KernelChoice choice;
  bool wantsBf16Dot;  // bf16 activations (2^-9 relative error at each matmul input), twice the FMA rate
};

Forced forcedKernel(KernelChoice choice) {
  if (choice != KernelChoice::Auto) return {choice, false};
  const char* env = std::getenv("NANO_SERVING_KERNEL");
  if (!env || !*env || std::strcmp(env, "auto") == 0) return {KernelChoice::Auto, false};
  if (std::strcmp(env, "portable") == 0) return {KernelChoice::Portable, false};
  if (std::strcmp(env, "avx2") == 0) return {KernelChoice::Avx2, false};
  if (std::strcmp(env, "avx512") == 0) return {KernelChoice::Avx512, false};
  if (std::strcmp(env, "avx512-bf16") == 0) return {KernelChoice::Avx512, true};
  // Quantized-weight paths (quant_gemm.cpp reads them). A CPU with AVX-VNNI and no AVX-512 runs
  // the f32 GEMMs, attention, row ops and sampling on AVX2, so avx-vnni forces those to AVX2 too
  // (when the CPU has it; the quantized path falls back the same way); avx512-vnni leaves them automatic.
  if (std::strcmp(env, "avx-vnni") == 0) return {avx2GemmAvailable() ? KernelChoice::Avx2 : KernelChoice::Auto, false};
  if (std::strcmp(env, "avx512-vnni") == 0) return {KernelChoice::Auto, false};
  throw CodedError("ERR_NATIVE_CONFIG", std::string("NANO_SERVING_KERNEL must be auto, portable, avx2, avx512, "
                                                    "avx512-bf16, avx-vnni or avx512-vnni, got '") + env + "'");
}

}  // namespace

GemmKernel chooseGemmKernel(KernelChoice choice, WeightDtype dtype) {
  const Forced forced = forcedKernel(choice);
  switch (forced.choice) {
    case KernelChoice::Portable: return portableGemmKernel();
    case KernelChoice::Avx2:
      if (!avx2GemmAvailable()) throw CodedError("ERR_NATIVE_CONFIG", "kernel 'avx2' needs AVX2 and FMA, which this CPU lacks");
      return avx2GemmKernel();
    case KernelChoice::Avx512:
      if (!avx512GemmAvailable())
        throw CodedError("ERR_NATIVE_CONFIG", "kernel 'avx512' needs AVX-512 F/BW/VL/DQ, which this CPU lacks");
      if (dtype == WeightDtype::Bf16 && forced.wantsBf16Dot && avx512Bf16Available()) return avx512Bf16GemmKernel();
      return avx512GemmKernel();
    case KernelChoice::Auto: break;
  }
  if (avx512GemmAvailable()) return avx512GemmKernel();
  if (avx2GemmAvailable()) return avx2GemmKernel();
  return portableGemmKernel();
}

namespace {
constexpr size_t kRunChunkBytes = size_t(256) << 10;
}  // namespace

void gemm(ThreadPool& pool, const GemmKernel& kernel, const float* x, int ldx, int m, const PackedMatrix& w,
          const float* bias, float* y, int ldy, uint16_t* xPairs) {
  if (m <= 0) return;
  if (w.quant) return quantGemm(pool, w.quantKernel, x, ldx, m, *w.quant, bias, y, ldy, reinterpret_cast<uint8_t*>(xPairs));
  if (w.isPairs) {
    const size_t padded = size_t(w.paddedK());
    pool.parallelFor(m, 16, [&](int begin, int end, int) {
      kernel.toPairs(x + size_t(begin) * ldx, ldx, end - begin, w.k, xPairs + begin * padded);
    });
    pool.parallelFor(w.numBlocks, 1, [&](int begin, int end, int) { kernel.runPairs(xPairs, m, w, begin, end, bias, y, ldy); });
    return;
  }
  // A small matrix with too few blocks for the threads (tiny models) is split by rows too,
  // in whole 6-row tiles: re-reading it per row group costs little, and no sum changes order.
  const int numThreads = pool.size();
  if (numThreads > 1 && w.numBlocks < 2 * numThreads && m >= 24 && w.bytes() <= (size_t(256) << 10)) {
    const int wantGroups = (4 * numThreads + w.numBlocks - 1) / w.numBlocks;
    const int rowsPerGroup = ((m + wantGroups - 1) / wantGroups + 5) / 6 * 6;
    const int numGroups = (m + rowsPerGroup - 1) / rowsPerGroup;
    pool.forEachChunk(numGroups * w.numBlocks, [&](int chunk, int) {
      const int r0 = (chunk / w.numBlocks) * rowsPerGroup, b = chunk % w.numBlocks;
      const int rows = std::min(rowsPerGroup, m - r0);
      kernel.run(x + size_t(r0) * ldx, ldx, rows, w, b * kBlockPanels, std::min((b + 1) * kBlockPanels, w.numPanels),
                 bias, y + size_t(r0) * ldy, ldy);
    });
    return;
  }
  // Column ranges claimed by whichever thread is free: at least one per block and four per
  // thread, as even as the kernel's split width allows (one or two rows: whole blocks, so
  // each thread streams whole weight rows; bf16: whole cache lines), so the threads finish
  // together and a descheduled thread's share is taken over by the others. A matrix of many
  // blocks (an LM head) is claimed by more than two rows in ranges of kRangeBlocks blocks, as
  // long as that leaves 8 ranges per thread: the tiles' prefetch of the next strip then runs
  // on across blocks instead of each block starting cold from memory.
  int unit = m <= 2 ? kBlockPanels : kernel.splitPanels;
  if (w.dtype == WeightDtype::Bf16 && unit < 2) unit = 2;
  const int numUnits = (w.numPanels + unit - 1) / unit;
  // Few rows (decode; batched decode where the kernel asks): one contiguous run of units per
  // thread (tile_runs.h), claimed from its front in chunks of about kRunChunkBytes of weights,
  // so each thread streams one range of memory.
  if (splitsInRuns(m, numThreads, numUnits, std::max(4, kernel.streamRows))) {
    const size_t unitBytes = w.bytes() / size_t(w.numPanels) * size_t(unit);
    const int perChunk = int(std::max<size_t>(1, kRunChunkBytes / unitBytes));
    auto eachUnitBytes = [&](auto&& f) {
      for (int u = 0; u < numUnits; ++u) f(size_t(std::min(unit, w.numPanels - u * unit)));  // panels: equal bytes each
    };
    return splitInRuns(pool, numUnits, perChunk, eachUnitBytes, [&](int begin, int end) {
      kernel.run(x, ldx, m, w, begin * unit, std::min(end * unit, w.numPanels), bias, y, ldy);
    });
  }
  constexpr int kRangeBlocks = 8;
  const bool isRanged = m > 2 && w.numBlocks >= kRangeBlocks * 8 * numThreads;
  const int numChunks = std::min(numUnits, std::max(isRanged ? w.numBlocks / kRangeBlocks : w.numBlocks, 4 * numThreads));
  pool.forEachChunk(numChunks, [&](int c, int) {
    const int begin = int(int64_t(c) * numUnits / numChunks) * unit;
    const int end = std::min(int(int64_t(c + 1) * numUnits / numChunks) * unit, w.numPanels);
    kernel.run(x, ldx, m, w, begin, end, bias, y, ldy);
  });
}

void gemmSerial(const GemmKernel& kernel, const float* x, int ldx, int m, const PackedMatrix& w, const float* bias,
                float* y, int ldy, uint16_t* xPairs) {
  if (m <= 0) return;
  if (w.quant) return quantGemmSerial(w.quantKernel, x, ldx, m, *w.quant, bias, y, ldy, reinterpret_cast<uint8_t*>(xPairs));
  if (w.isPairs) {
    kernel.toPairs(x, ldx, m, w.k, xPairs);
    kernel.runPairs(xPairs, m, w, 0, w.numBlocks, bias, y, ldy);
    return;
  }
  kernel.run(x, ldx, m, w, 0, w.numPanels, bias, y, ldy);
}

}  // namespace nano
