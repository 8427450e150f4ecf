#include "thread_pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpuRelax() { _mm_pause(); }
#else
static inline void cpuRelax() {}
#endif

namespace nano {

using Clock = std::chrono::steady_clock;

ThreadPool::ThreadPool(int numThreads, int spinMicros)
    : numThreads_(numThreads < 1 ? 1 : numThreads), spinMicros_(spinMicros) {
  for (int i = 1; i < numThreads_; ++i) workers_.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::dispatch(Task task, void* ctx) {
  if (numThreads_ == 1) return task(ctx, 0, 1);
  task_ = task;
  ctx_ = ctx;
  pending_.store(numThreads_ - 1, std::memory_order_relaxed);
  {
    // Under the mutex so a worker about to sleep cannot miss the new generation.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  task(ctx, 0, numThreads_);
  while (pending_.load(std::memory_order_acquire) != 0) cpuRelax();
}

void ThreadPool::workerLoop(int index) {
  uint64_t seen = 0;  // the generation at construction: a job posted before this thread starts still runs
  for (;;) {
    // Spin a little: the next job usually follows within microseconds.
    auto spinUntil = Clock::now() + std::chrono::microseconds(spinMicros_);
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen) {
      cpuRelax();
      if (++spins % 64 == 0 && Clock::now() > spinUntil) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      }
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stopping_.load()) return;
    task_(ctx_, index, numThreads_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace nano
