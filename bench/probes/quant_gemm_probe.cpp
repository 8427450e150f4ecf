// Quantized GEMM probe: the addon's quantized kernels (native/src/quant*.cpp, compiled in)
// timed alone over a model's linear layers in the step's order, M = 1 (the one-row GEMMs of a
// decode step, activation quantization included), each matrix stored in the kernel's layout.
// The blocks are pseudo-random bytes with normal f16 scales (the kernels' time does not depend
// on the values). Prints one JSON line: the kernel, the weight bytes of one pass as stored (the
// interleaved layouts' bytes, what a step reads) and GB/s of the best, the mean and the median
// pass (a pass: every matrix once, back to back, as a step runs them).
// Usage: quant_gemm_probe <threads> <seconds> <matrix>[,<matrix>...] [<gap_us>]
//        quant_gemm_probe <threads> <seconds> <matrices> <gap_us> <kernel>,<kernel>[,...]
//   matrix = <type>:<rows>[+<type>:<rows>...]x<k>, type one of q8_0 q4_0 q4_k q5_k q6_k
//   (a fused matrix's parts in order, as the executor fuses q|k|v and gate|up);
//   gap_us: the calling thread spins that long after each product (the step's row work
//   between its products: norms, rope, attention), the pool's other threads idle meanwhile.
// The kernel is chooseQuantKernel's (NANO_SERVING_KERNEL forces one, as in the executor);
// kernels (names as quant.kernels() lists them, comma-separated) instead holds each matrix in
// each kernel's layout and alternates the kernels pass by pass, one JSON line each, with
// speedVsFirst: the median over the rounds of the first kernel's pass time over this one's (on
// a host whose bandwidth swings from one second to the next, a ratio of neighbouring passes).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "quant_gemm.h"

using namespace nano;

namespace {

bool parseType(const std::string& name, QuantType& out) {
  for (int t = 0; t < kNumQuantTypes; ++t)
    if (name == quantTraits(QuantType(t)).name) return out = QuantType(t), true;
  return false;
}

// Byte offsets of a block's f16 fields (quant_format.h).
std::vector<int> halfOffsets(QuantType t) {
  switch (t) {
    case QuantType::Q8_0: case QuantType::Q4_0: return {0};
    case QuantType::Q4_K: case QuantType::Q5_K: return {0, 2};
    case QuantType::Q6_K: return {208};
  }
  return {};
}

std::vector<uint8_t> randomBlocks(QuantType t, int rows, int k, uint32_t& seed) {
  const QuantTraits& tr = quantTraits(t);
  const size_t blocks = size_t(rows) * (k / tr.blockElems);
  std::vector<uint8_t> bytes(blocks * tr.blockBytes);
  for (uint8_t& b : bytes) b = uint8_t((seed = seed * 1664525u + 1013904223u) >> 24);
  for (size_t b = 0; b < blocks; ++b)
    for (int at : halfOffsets(t)) {
      const uint16_t h = uint16_t(0x2000 + ((seed = seed * 1664525u + 1013904223u) >> 22));  // ~0.008..0.06
      std::memcpy(&bytes[b * tr.blockBytes + at], &h, 2);
    }
  return bytes;
}

struct Layer {
  std::vector<std::shared_ptr<QuantMatrix>> w;  // one per kernel, in its layout
  std::vector<float> x, y;
  std::vector<uint8_t> scratch;
};

bool kernelNamed(const std::string& name, QuantKernel& out) {
  std::vector<QuantKernel> all{portableQuantKernel()};
  if (avx2QuantAvailable()) all.push_back(avx2QuantKernel());
  if (avxVnniQuantAvailable()) all.push_back(avxVnniQuantKernel());
  if (avx512VnniQuantAvailable()) all.push_back(avx512VnniQuantKernel());
  for (const QuantKernel& k : all)
    if (name == k.name) return out = k, true;
  return false;
}

double medianOf(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 6) return std::fprintf(stderr, "usage: quant_gemm_probe <threads> <seconds> <type:rows[+type:rows]xk,...> [gap_us [kernel,...]]\n"), 2;
  const double gapUs = argc >= 5 ? std::atof(argv[4]) : 0;
  if (!(gapUs >= 0)) return std::fprintf(stderr, "quant_gemm_probe: bad gap_us '%s'\n", argv[4]), 2;
  const int threads = std::atoi(argv[1]);
  const double seconds = std::atof(argv[2]);
  std::vector<QuantKernel> kernels;
  if (argc == 6) {
    const std::string names = argv[5];
    for (size_t at = 0; at <= names.size();) {
      const size_t end = std::min(names.find(',', at), names.size());
      QuantKernel k;
      if (!kernelNamed(names.substr(at, end - at), k))
        return std::fprintf(stderr, "quant_gemm_probe: no kernel '%s' on this CPU\n", names.substr(at, end - at).c_str()), 2;
      kernels.push_back(k);
      at = end + 1;
    }
  } else {
    kernels.push_back(chooseQuantKernel(KernelChoice::Auto));
  }
  const size_t numKernels = kernels.size();
  std::vector<Layer> layers;
  uint32_t seed = 12345;
  std::vector<double> bytes(numKernels, 0.0);
  const std::string spec = argv[3];
  for (size_t at = 0; at < spec.size();) {
    const size_t end = std::min(spec.find(',', at), spec.size()), x = spec.find('x', at);
    if (x == std::string::npos || x > end) return std::fprintf(stderr, "quant_gemm_probe: bad matrix '%s'\n", spec.substr(at, end - at).c_str()), 2;
    const int k = std::atoi(spec.c_str() + x + 1);
    std::vector<std::vector<uint8_t>> blocks;
    std::vector<QuantSource> sources;
    int n = 0;
    for (size_t p = at; p < x;) {
      const size_t plus = std::min(spec.find('+', p), x), colon = spec.find(':', p);
      QuantType type;
      if (colon == std::string::npos || colon > plus || !parseType(spec.substr(p, colon - p), type))
        return std::fprintf(stderr, "quant_gemm_probe: bad part '%s'\n", spec.substr(p, plus - p).c_str()), 2;
      const int rows = std::atoi(spec.c_str() + colon + 1);
      if (rows <= 0 || k <= 0 || k % quantTraits(type).blockElems != 0) return std::fprintf(stderr, "quant_gemm_probe: bad shape\n"), 2;
      blocks.push_back(randomBlocks(type, rows, k, seed));
      sources.push_back({type, rows, blocks.back().data()});
      n += rows;
      p = plus + 1;
    }
    Layer l{{}, std::vector<float>(size_t(k)), std::vector<float>(size_t(n)), std::vector<uint8_t>(quantActRowBytes(k))};
    for (size_t v = 0; v < numKernels; ++v) {
      l.w.push_back(makeQuantMatrix(sources, k, kernels[v].layout));
      bytes[v] += double(l.w[v]->bytes());
    }
    for (int i = 0; i < k; ++i) l.x[i] = float((i * 37) % 101 - 50) * 0.01f;
    layers.push_back(std::move(l));
    at = end + 1;
  }
  ThreadPool pool(threads);
  auto runAll = [&](size_t v) {
    for (Layer& l : layers) {
      const QuantMatrix& w = *l.w[v];
      quantGemm(pool, kernels[v], l.x.data(), w.k, 1, w, nullptr, l.y.data(), w.n, l.scratch.data());
      if (gapUs > 0) {
        const auto g0 = std::chrono::steady_clock::now();
        while (std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - g0).count() < gapUs) {
        }
      }
    }
  };
  for (size_t v = 0; v < numKernels; ++v) runAll(v);
  std::vector<std::vector<double>> passes(numKernels);  // [kernel][round] seconds
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
    for (size_t v = 0; v < numKernels; ++v) {
      const auto t0 = std::chrono::steady_clock::now();
      runAll(v);
      passes[v].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  // The gap is not the GEMMs' time: the GB/s are over the pass less its gaps.
  const double gaps = gapUs * 1e-6 * double(layers.size());
  for (size_t v = 0; v < numKernels; ++v) {
    double mean = 0;
    std::vector<double> ratios;
    for (size_t r = 0; r < passes[v].size(); ++r) {
      mean += passes[v][r] / double(passes[v].size());
      ratios.push_back(passes[0][r] / passes[v][r]);
    }
    const double best = *std::min_element(passes[v].begin(), passes[v].end()), med = medianOf(passes[v]), b = bytes[v];
    std::printf("{\"kernel\":\"%s\",\"threads\":%d,\"bytes\":%.0f,\"gapUs\":%.1f,\"passes\":%zu,\"gbps\":%.2f,\"gbpsMean\":%.2f,\"gbpsMedian\":%.2f,"
                "\"msBest\":%.4f,\"msMean\":%.4f,\"msMedian\":%.4f,\"speedVsFirst\":%.4f}\n",
                kernels[v].name, threads, b, gapUs, passes[v].size(), b / (best - gaps) / 1e9, b / (mean - gaps) / 1e9, b / (med - gaps) / 1e9,
                1e3 * (best - gaps), 1e3 * (mean - gaps), 1e3 * (med - gaps), medianOf(ratios));
  }
  return 0;
}
