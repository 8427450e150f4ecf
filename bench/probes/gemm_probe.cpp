// GEMM probe: the addon's own packed-matrix kernels (native/src/gemm*.cpp, compiled in)
// timed alone on the layer shapes of a model, M rows at a time. Prints one JSON line per
// (kernel, M): GFLOP/s over all the model's linear layers of one block.
// Usage: gemm_probe <portable|avx2|avx512> <threads> <seconds> <hidden> <ffn> <qkvN> <m>...
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "gemm.h"

using namespace nano;

namespace {

struct Layer {
  PackedMatrix w;
  std::vector<float> x, y;
};

Layer makeLayer(int n, int k, int maxM) {
  std::vector<float> weights(size_t(n) * k);
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = float(int(i * 2654435761u % 2001) - 1000) * 1e-4f;
  Layer l{packMatrix({{weights.data(), n}}, k, WeightDtype::F32), std::vector<float>(size_t(maxM) * k, 0.01f),
          std::vector<float>(size_t(maxM) * n)};
  return l;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) return std::fprintf(stderr, "usage: gemm_probe <kernel> <threads> <seconds> <NxK[,NxK...]> <m>...\n"), 2;
  KernelChoice choice = std::strcmp(argv[1], "portable") == 0 ? KernelChoice::Portable
                        : std::strcmp(argv[1], "avx2") == 0   ? KernelChoice::Avx2
                                                              : KernelChoice::Avx512;
  const int threads = std::atoi(argv[2]);
  const double seconds = std::atof(argv[3]);
  GemmKernel kernel;
  try {
    kernel = chooseGemmKernel(choice, WeightDtype::F32);
  } catch (const std::exception& e) {
    return std::printf("{\"kernel\":\"%s\",\"supported\":false}\n", argv[1]), 0;
  }
  int maxM = 1;
  for (int i = 5; i < argc; ++i) maxM = std::max(maxM, std::atoi(argv[i]));
  std::vector<Layer> layers;
  for (const char* shape = argv[4]; *shape;) {
    char* end = nullptr;
    const int n = int(std::strtol(shape, &end, 10));
    if (*end != 'x') return std::fprintf(stderr, "gemm_probe: bad shape list '%s'\n", argv[4]), 2;
    const int k = int(std::strtol(end + 1, &end, 10));
    if (n <= 0 || k <= 0 || (*end && *end != ',')) return std::fprintf(stderr, "gemm_probe: bad shape list '%s'\n", argv[4]), 2;
    layers.push_back(makeLayer(n, k, maxM));
    shape = *end ? end + 1 : end;
  }
  ThreadPool pool(threads);
  for (int i = 5; i < argc; ++i) {
    const int m = std::atoi(argv[i]);
    double flops = 0;
    for (const Layer& l : layers) flops += 2.0 * m * l.w.n * l.w.k;
    auto runAll = [&] {
      for (Layer& l : layers) gemm(pool, kernel, l.x.data(), l.w.k, m, l.w, nullptr, l.y.data(), l.w.n, nullptr);
    };
    runAll();
    double best = 1e30;
    auto start = std::chrono::steady_clock::now();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
      auto t0 = std::chrono::steady_clock::now();
      runAll();
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::printf("{\"kernel\":\"%s\",\"supported\":true,\"threads\":%d,\"m\":%d,\"gflops\":%.2f}\n", kernel.name, threads,
                m, flops / best / 1e9);
  }
  return 0;
}
