// A fixed pool of worker threads, created once per Executor. The calling thread is
// thread 0 and works too. Workers spin briefly after each job before sleeping on a
// condition variable: waking a sleeping thread on this VM costs ~15 ms.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace nano {

class ThreadPool {
 public:
  explicit ThreadPool(int numThreads, int spinMicros = 200);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return numThreads_; }

  // Runs fn(threadIndex, numThreads) on every thread; returns when all have finished.
  template <class F>
  void run(F&& fn) {
    auto trampoline = [](void* ctx, int t, int n) { (*static_cast<std::remove_reference_t<F>*>(ctx))(t, n); };
    dispatch(trampoline, static_cast<void*>(&fn));
  }

  // Splits [0, count) into numThreads contiguous ranges; fn(begin, end) per thread.
  template <class F>
  void parallelFor(int count, F&& fn) {
    if (count <= 0) return;
    if (numThreads_ == 1 || count == 1) return fn(0, count);
    run([&](int t, int n) {
      int begin = int(int64_t(count) * t / n), end = int(int64_t(count) * (t + 1) / n);
      if (begin < end) fn(begin, end);
    });
  }

 private:
  using Task = void (*)(void*, int, int);
  void dispatch(Task task, void* ctx);
  void workerLoop(int index);

  int numThreads_;
  int spinMicros_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stopping_{false};
  Task task_ = nullptr;
  void* ctx_ = nullptr;
};

}  // namespace nano
