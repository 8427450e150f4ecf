// FMA peak probe: every thread runs a loop of independent vfmadd chains (12 ymm or 24 zmm
// accumulators, more than latency x ports on current x86 cores) and the GFLOP/s of all
// threads together is printed as JSON. Build with -O3 (the chains must stay in registers). Usage: fma_peak <avx2|avx512> <threads> <seconds>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

constexpr long kIters = 1 << 16;  // per timed window (a few ms); the best window counts

__attribute__((target("avx2,fma"))) double avx2Loop(double seconds, float* sink) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(float(i) * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  const auto start = Clock::now();
  double best = 1e30;
  do {
    const auto t0 = Clock::now();
    for (long it = 0; it < kIters; ++it)
#pragma GCC unroll 12
      for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    best = std::min(best, secondsSince(t0));
  } while (secondsSince(start) < seconds);
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  _mm256_storeu_ps(sink, s);
  return double(kIters) * 12 * 8 * 2 / best;
}

__attribute__((target("avx512f"))) double avx512Loop(double seconds, float* sink) {
  __m512 acc[24];
  for (int i = 0; i < 24; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  const auto start = Clock::now();
  double best = 1e30;
  do {
    const auto t0 = Clock::now();
    for (long it = 0; it < kIters / 2; ++it)
#pragma GCC unroll 24
      for (int i = 0; i < 24; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    best = std::min(best, secondsSince(t0));
  } while (secondsSince(start) < seconds);
  __m512 s = acc[0];
  for (int i = 1; i < 24; ++i) s = _mm512_add_ps(s, acc[i]);
  _mm512_storeu_ps(sink, s);
  return double(kIters / 2) * 24 * 16 * 2 / best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return std::fprintf(stderr, "usage: fma_peak <avx2|avx512> <threads> <seconds>\n"), 2;
  const bool wide = std::strcmp(argv[1], "avx512") == 0;
  const int threads = std::atoi(argv[2]);
  const double seconds = std::atof(argv[3]);
  __builtin_cpu_init();
  if (wide ? !__builtin_cpu_supports("avx512f") : !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
    return std::printf("{\"isa\":\"%s\",\"supported\":false}\n", argv[1]), 0;
  std::vector<double> flops(threads);
  std::vector<float> sink(16 * threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] { flops[t] = wide ? avx512Loop(seconds, &sink[16 * t]) : avx2Loop(seconds, &sink[16 * t]); });
  for (auto& th : pool) th.join();
  double total = 0;
  for (double f : flops) total += f;
  std::printf("{\"isa\":\"%s\",\"supported\":true,\"threads\":%d,\"gflops\":%.2f,\"sink\":%g}\n", argv[1], threads,
              total / 1e9, double(sink[0]));
  return 0;
}
