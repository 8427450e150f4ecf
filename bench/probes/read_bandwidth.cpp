// Read bandwidth probe: every thread sums its own slice of a buffer far larger than the
// last-level cache, repeatedly; prints the GB/s of all threads together (each thread's
// best pass) as JSON.
// Usage: read_bandwidth <threads> <MiB> <seconds>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

__attribute__((target("avx2"))) float sumSlice(const float* p, size_t n) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (size_t i = 0; i + 32 <= n; i += 32)
    for (int j = 0; j < 4; ++j) acc[j] = _mm256_add_ps(acc[j], _mm256_load_ps(p + i + 8 * j));
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  return out[0] + out[7];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return std::fprintf(stderr, "usage: read_bandwidth <threads> <MiB> <seconds>\n"), 2;
  const int threads = std::atoi(argv[1]);
  const size_t floats = size_t(std::atoi(argv[2])) << 18;
  const double seconds = std::atof(argv[3]);
  float* buf = static_cast<float*>(std::aligned_alloc(64, floats * sizeof(float)));
  const size_t per = floats / threads / 32 * 32;
  std::vector<double> bytes(threads);
  std::vector<float> sink(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      float* mine = buf + per * t;
      for (size_t i = 0; i < per; ++i) mine[i] = float(i & 1023);  // first touch on this thread
      sumSlice(mine, per);                                          // warm-up pass
      const auto start = std::chrono::steady_clock::now();
      double best = 1e30, elapsed = 0;
      do {  // the best pass counts (the machine may be shared)
        const auto t0 = std::chrono::steady_clock::now();
        sink[t] += sumSlice(mine, per);
        const auto t1 = std::chrono::steady_clock::now();
        best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
        elapsed = std::chrono::duration<double>(t1 - start).count();
      } while (elapsed < seconds);
      bytes[t] = double(per) * sizeof(float) / best;
    });
  for (auto& th : pool) th.join();
  double total = 0;
  for (double b : bytes) total += b;
  std::printf("{\"threads\":%d,\"mib\":%zu,\"gbps\":%.2f,\"sink\":%g}\n", threads, floats >> 18, total / 1e9, double(sink[0]));
  std::free(buf);
  return 0;
}
