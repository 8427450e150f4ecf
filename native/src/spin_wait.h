// Spin, then sleep: the one waiting protocol of the pool's workers and of the step runner.
// A waiter spins (pause, a yield every 32) for up to its budget, then sleeps on a condition
// variable. The budget adapts: it doubles (up to the configured maximum) when work arrives
// while spinning, halves when the spin ends without work, and drops to nothing when the
// machine is busy: when the spin itself is descheduled (a gap of over a millisecond between
// two clock checks), or when the spinning thread got less than 3/4 of the spin's wall time
// on a core (its own CPU clock against the wall clock: other threads wanted the core, and a
// spinning thread only takes it from the thread with the work).
#pragma once
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace nano {

class SpinWait {
 public:
  explicit SpinWait(int maxMicros) : maxMicros_(std::max(0, maxMicros)), budgetMicros_(maxMicros_) {}

  // Returns once ready() holds; sleeps on `wake` (under `mutex`, counted in `numSleeping` while
  // asleep, so the notifier knows to notify) when the budget runs out. ready() must be cheap.
  template <class Ready>
  void wait(Ready ready, std::mutex& mutex, std::condition_variable& wake, int& numSleeping) {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    auto lastCheck = start;
    const auto budget = std::chrono::microseconds(budgetMicros_);
    const double cpuStart = threadCpuMicros();
    for (int spins = 1; !ready(); ++spins) {
      if (spins % 32 == 0) std::this_thread::yield();
      else relax();
      if (spins % 64 != 0) continue;
      const auto now = Clock::now();
      const bool descheduled = now - lastCheck > std::chrono::milliseconds(1) ||
                               (spins % 1024 == 0 && isStarved(cpuStart, start, now));
      lastCheck = now;
      if (!descheduled && now - start <= budget) continue;
      budgetMicros_ = descheduled || isStarved(cpuStart, start, now) ? 0 : budgetMicros_ / 2;
      sleep(ready, mutex, wake, numSleeping);
      return;
    }
    // Work came while spinning: spin longer next time, unless the spin kept another thread off a core.
    const bool starved = Clock::now() - start > std::chrono::microseconds(100) && isStarved(cpuStart, start, Clock::now());
    budgetMicros_ = starved ? 0 : std::min(maxMicros_, 2 * budgetMicros_ + kRegrowMicros);
  }

  int budgetMicros() const { return budgetMicros_; }

 private:
  static constexpr int kRegrowMicros = 20;

  template <class Ready>
  void sleep(Ready ready, std::mutex& mutex, std::condition_variable& wake, int& numSleeping) {
    std::unique_lock<std::mutex> lock(mutex);
    ++numSleeping;
    wake.wait(lock, ready);
    --numSleeping;
    if (budgetMicros_ == 0) budgetMicros_ = std::min(maxMicros_, kRegrowMicros);  // try a short spin again next time
  }

  // CPU time of the calling thread (its own clock: it stops while the thread waits for a core).
  static double threadCpuMicros() {
    timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(t.tv_sec) * 1e6 + double(t.tv_nsec) * 1e-3;
  }

  // The thread ran for less than 3/4 of the wall time since `start`: the cores are oversubscribed.
  template <class TimePoint>
  static bool isStarved(double cpuStart, TimePoint start, TimePoint now) {
    const double wall = std::chrono::duration<double, std::micro>(now - start).count();
    return wall > 50 && threadCpuMicros() - cpuStart < 0.75 * wall;
  }

  static void relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
  }

  int maxMicros_;
  int budgetMicros_;
};

}  // namespace nano
