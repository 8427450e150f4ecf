#include "thread_pool.h"

#include <chrono>

#include "spin_wait.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpuRelax() { _mm_pause(); }
#else
static inline void cpuRelax() {}
#endif

namespace nano {

using Clock = std::chrono::steady_clock;

namespace {
constexpr int kNextBits = 20, kCountBits = 20;
constexpr uint64_t kFieldMask = (1u << kNextBits) - 1;
inline uint64_t nextOf(uint64_t c) { return c & kFieldMask; }
inline uint64_t countOf(uint64_t c) { return (c >> kNextBits) & kFieldMask; }
inline bool hasWork(uint64_t c) { return nextOf(c) < countOf(c); }

// Spin-wait step: pause mostly, yield now and then so a descheduled peer on the same core can run.
inline void backoff(int& spins) {
  if (++spins % 32 == 0) std::this_thread::yield();
  else cpuRelax();
}
}  // namespace

ThreadPool::ThreadPool(int numThreads, int spinMicros)
    : numThreads_(numThreads < 1 ? 1 : numThreads), spinMicros_(spinMicros) {
  spins_ = std::make_unique<std::vector<SpinWait>>(numThreads_, SpinWait(spinMicros));
  for (int i = 1; i < numThreads_; ++i) workers_.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

bool ThreadPool::runChunks(int thread) {
  bool ranAny = false;
  uint64_t c = claim_.load(std::memory_order_acquire);
  while (hasWork(c)) {
    if (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    // The chunk is ours, so its job cannot finish (nor task_/ctx_ change) before we report it.
    task_(ctx_, int(nextOf(c)), thread);
    numDone_.fetch_add(1, std::memory_order_acq_rel);
    ranAny = true;
    c = claim_.load(std::memory_order_acquire);
  }
  return ranAny;
}

void ThreadPool::dispatch(Task task, void* ctx, int numChunks) {
  task_ = task;
  ctx_ = ctx;
  numDone_.store(0, std::memory_order_relaxed);
  generation_ = (generation_ + 1) & ((1u << 24) - 1);
  claim_.store((generation_ << (kNextBits + kCountBits)) | (uint64_t(numChunks) << kNextBits),
               std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (numSleeping_ > 0) wake_.notify_all();
  }
  runChunks(0);
  const bool isTimed = profile_ && profile_->isOn;
  const int64_t waitStart = isTimed ? StepProfile::nowNs() : 0;
  int spins = 0;
  while (numDone_.load(std::memory_order_acquire) != numChunks) backoff(spins);
  if (isTimed) {
    profile_->poolWaitNs += double(StepProfile::nowNs() - waitStart);
    ++profile_->dispatches;
  }
}

void ThreadPool::workerLoop(int thread) {
  while (!stopping_.load(std::memory_order_acquire)) {
    if (runChunks(thread)) continue;
    // Idle: spin a little (the next job usually follows within microseconds), then sleep.
    (*spins_)[thread].wait([&] { return hasWork(claim_.load(std::memory_order_acquire)) || stopping_.load(); }, mutex_,
                        wake_, numSleeping_);
  }
}

}  // namespace nano
