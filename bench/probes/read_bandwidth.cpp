// Read bandwidth probe: every thread sums its own slice of a buffer far larger than the
// last-level cache, repeatedly. Two figures, as JSON:
//   gbps        all threads reading AT ONCE: each pass starts on a barrier and ends when the
//               slowest thread is done; the whole buffer over the best pass's wall time. This
//               is what a step whose threads stream one matrix together can get (the bound).
//   gbpsSumOfBest  each thread's best pass on its own, summed (threads need not overlap: an
//               optimistic figure, kept for comparison with earlier reports).
//   gbpsOneThread  one thread alone over its own slice (the others wait).
// Usage: read_bandwidth <threads> <MiB> <seconds>
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

__attribute__((target("avx2"))) float sumSlice(const float* p, size_t n) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (size_t i = 0; i + 32 <= n; i += 32)
    for (int j = 0; j < 4; ++j) acc[j] = _mm256_add_ps(acc[j], _mm256_load_ps(p + i + 8 * j));
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  return out[0] + out[7];
}

// A reusable spinning barrier for `n` threads.
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void arrive() {
    const int gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
      count_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_acq_rel);
      return;
    }
    while (gen_.load(std::memory_order_acquire) == gen) _mm_pause();
  }

 private:
  int n_;
  std::atomic<int> count_{0};
  std::atomic<int> gen_{0};
};

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return std::fprintf(stderr, "usage: read_bandwidth <threads> <MiB> <seconds>\n"), 2;
  const int threads = std::max(1, std::atoi(argv[1]));
  const size_t floats = size_t(std::atoi(argv[2])) << 18;
  const double budget = std::atof(argv[3]);
  float* buf = static_cast<float*>(std::aligned_alloc(64, floats * sizeof(float)));
  const size_t per = floats / threads / 32 * 32;
  const double sliceBytes = double(per) * sizeof(float);
  std::vector<double> ownBest(threads, 1e30);  // each thread's best pass, whatever the others did
  std::vector<float> sink(threads);
  std::vector<Clock::time_point> ends(threads);
  Clock::time_point passStart;
  double togetherBest = 1e30, aloneBest = 1e30;
  std::atomic<bool> stop{false};
  Barrier barrier(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      float* mine = buf + per * t;
      for (size_t i = 0; i < per; ++i) mine[i] = float(i & 1023);  // first touch on this thread
      sink[t] += sumSlice(mine, per);                               // warm-up pass
      const auto start = Clock::now();
      // Phase 1: passes together, each started on the barrier; thread 0 keeps the time.
      for (;;) {
        barrier.arrive();
        if (t == 0) passStart = Clock::now();
        barrier.arrive();
        if (stop.load()) break;
        const auto t0 = Clock::now();
        sink[t] += sumSlice(mine, per);
        ends[t] = Clock::now();
        ownBest[t] = std::min(ownBest[t], seconds(t0, ends[t]));
        barrier.arrive();
        if (t == 0) {
          const auto last = *std::max_element(ends.begin(), ends.end());
          togetherBest = std::min(togetherBest, seconds(passStart, last));
          if (seconds(start, last) > budget) stop.store(true);
        }
      }
      // Phase 2: thread 0 alone, the others parked on the barrier.
      if (t == 0) {
        const auto start2 = Clock::now();
        do {
          const auto t0 = Clock::now();
          sink[0] += sumSlice(mine, per);
          aloneBest = std::min(aloneBest, seconds(t0, Clock::now()));
        } while (seconds(start2, Clock::now()) < budget / 2);
      }
      barrier.arrive();
    });
  for (auto& th : pool) th.join();
  double sumOfBest = 0;
  for (double b : ownBest) sumOfBest += sliceBytes / b;
  std::printf("{\"threads\":%d,\"mib\":%zu,\"gbps\":%.2f,\"gbpsSumOfBest\":%.2f,\"gbpsOneThread\":%.2f,\"sink\":%g}\n", threads,
              floats >> 18, sliceBytes * threads / togetherBest / 1e9, sumOfBest / 1e9, sliceBytes / aloneBest / 1e9,
              double(sink[0]));
  std::free(buf);
  return 0;
}
