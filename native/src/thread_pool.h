// A fixed pool of worker threads, created once per Executor; the calling thread is
// thread 0 and works too. A job is a count of chunks that threads CLAIM one at a
// time (an atomic counter), so when a worker is descheduled (2 cores shared with
// the JS thread and other processes) the caller simply takes its chunks instead of
// waiting for it. Which thread runs a chunk never changes what the chunk computes.
// Workers spin briefly after a job before sleeping (spin_wait.h: the budget adapts, is cut
// short while the recent gaps between jobs outlast it, and drops to nothing on a busy
// machine): waking a sleeping thread costs a few microseconds on this VM when a core is free
// (condition variable after 2 ms idle, 2026-12-02, load 3: 4 us median, 50 us at worst), and as
// long as the scheduler takes to give it a core when none is.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "step_profile.h"

namespace nano {

class SpinWait;  // spin_wait.h, included by thread_pool.cpp only (so a change there rebuilds two files, not all)

class ThreadPool {
 public:
  explicit ThreadPool(int numThreads, int spinMicros = 200);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return numThreads_; }

  // Where dispatch() adds thread 0's wait for the other threads (while profile->isOn); null: nowhere.
  void setProfile(StepProfile* profile) { profile_ = profile; }

  // Runs fn(chunk, thread) for every chunk in [0, numChunks); returns when all are done.
  template <class F>
  void forEachChunk(int numChunks, F&& fn) {
    if (numChunks <= 0) return;
    if (numThreads_ == 1 || numChunks == 1) {
      for (int c = 0; c < numChunks; ++c) fn(c, 0);
      return;
    }
    auto trampoline = [](void* ctx, int chunk, int thread) {
      (*static_cast<std::remove_reference_t<F>*>(ctx))(chunk, thread);
    };
    dispatch(trampoline, static_cast<void*>(&fn), numChunks);
  }

  // Splits [0, count) into ranges of `grain`; fn(begin, end, thread) per range.
  template <class F>
  void parallelFor(int count, int grain, F&& fn) {
    if (grain < 1) grain = 1;
    while ((count + grain - 1) / grain >= (1 << 20)) grain *= 2;  // fits the claim word
    int numChunks = (count + grain - 1) / grain;
    forEachChunk(numChunks, [&](int c, int t) { fn(c * grain, c * grain + grain < count ? c * grain + grain : count, t); });
  }

 private:
  using Task = void (*)(void*, int, int);
  void dispatch(Task task, void* ctx, int numChunks);
  bool runChunks(int thread);  // claims and runs chunks until none is left; true if it ran any
  void workerLoop(int thread);

  int numThreads_;
  int spinMicros_;
  std::vector<std::thread> workers_;
  std::unique_ptr<std::vector<SpinWait>> spins_;  // (thread) each worker's spin budget
  std::mutex mutex_;
  std::condition_variable wake_;
  int numSleeping_ = 0;  // guarded by mutex_
  // (generation:24 | numChunks:20 | next:20); a claim is a CAS on the whole word, so
  // a worker can never claim a chunk of a job other than the one it read.
  std::atomic<uint64_t> claim_{0};
  std::atomic<int> numDone_{0};
  std::atomic<bool> stopping_{false};
  uint64_t generation_ = 0;  // caller only
  Task task_ = nullptr;
  void* ctx_ = nullptr;
  StepProfile* profile_ = nullptr;
};

}  // namespace nano
