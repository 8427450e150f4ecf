// Spin, then sleep: the one waiting protocol of the pool's workers and of the step runner.
// A waiter spins (pause, a yield every 32) for up to its budget, then sleeps on a condition
// variable. The budget adapts (SpinBudget: the rules, apart from the clocks):
// - it doubles (up to the configured maximum) when work arrives while spinning, and halves when
//   the spin ends without work;
// - it drops to nothing when the machine is busy: when the spin itself is descheduled (a gap of
//   over a millisecond between two clock checks), or when the spinning thread got less than 3/4
//   of the spin's wall time on a core (its own CPU clock against the wall clock: other threads
//   wanted the core, and a spinning thread only takes it from the thread with the work);
// - it is cut to a short spin (kShortMicros) while the recent long waits (the median of the last
//   three waits that outlasted a short spin, timed until the work came) are longer than the
//   maximum: a spin that ends before the work comes only keeps a core from the thread that has
//   work (between two engine steps, the JS thread), and the short spin still catches the jobs
//   that follow each other within a step.
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

// The budget's rules, fed what a wait saw (test/native/spin-budget.test.ts drives them).
class SpinBudget {
 public:
  static constexpr int kRegrowMicros = 20;
  static constexpr int kShortMicros = 50;

  explicit SpinBudget(int maxMicros) : maxMicros_(std::max(0, maxMicros)), budgetMicros_(maxMicros_) {}

  // How long the next wait spins before it sleeps.
  int micros() const { return isGapLong() ? std::min(budgetMicros_, kShortMicros) : budgetMicros_; }

  // Work came while spinning, `waitedMicros` after the wait began; busy: the spin kept another
  // thread off a core.
  void caught(double waitedMicros, bool busy) {
    noteWait(waitedMicros);
    budgetMicros_ = busy ? 0 : std::min(maxMicros_, 2 * budgetMicros_ + kRegrowMicros);
  }

  // The spin ended without work (busy: it was descheduled or starved); the waiter goes to sleep.
  void ranOut(bool busy) { budgetMicros_ = busy ? 0 : budgetMicros_ / 2; }

  // The sleeper was woken by work, `waitedMicros` after the wait began (spin and sleep).
  void woke(double waitedMicros) {
    noteWait(waitedMicros);
    if (budgetMicros_ == 0) budgetMicros_ = std::min(maxMicros_, kRegrowMicros);  // try a short spin again next time
  }

 private:
  void noteWait(double micros) {
    if (micros <= kShortMicros) return;
    longWaits_[next_] = micros;
    next_ = (next_ + 1) % 3;
    numLong_ = std::min(numLong_ + 1, 3);
  }

  bool isGapLong() const {
    if (numLong_ < 3) return false;
    const double a = longWaits_[0], b = longWaits_[1], c = longWaits_[2];
    const double median = std::max(std::min(a, b), std::min(std::max(a, b), c));
    return median > maxMicros_;
  }

  int maxMicros_;
  int budgetMicros_;
  double longWaits_[3] = {0, 0, 0};
  int next_ = 0;
  int numLong_ = 0;
};

class SpinWait {
 public:
  explicit SpinWait(int maxMicros) : budget_(maxMicros) {}

  // Returns once ready() holds; sleeps on `wake` (under `mutex`, counted in `numSleeping` while
  // asleep, so the notifier knows to notify) when the budget runs out. ready() must be cheap.
  template <class Ready>
  void wait(Ready ready, std::mutex& mutex, std::condition_variable& wake, int& numSleeping) {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    auto lastCheck = start;
    const auto budget = std::chrono::microseconds(budget_.micros());
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
      budget_.ranOut(descheduled || isStarved(cpuStart, start, now));
      sleep(ready, mutex, wake, numSleeping);
      budget_.woke(microsSince(start));
      return;
    }
    // Work came while spinning: spin longer next time, unless the spin kept another thread off a core.
    const auto now = Clock::now();
    budget_.caught(microsSince(start), now - start > std::chrono::microseconds(100) && isStarved(cpuStart, start, now));
  }

  int budgetMicros() const { return budget_.micros(); }

 private:
  template <class Ready>
  static void sleep(Ready ready, std::mutex& mutex, std::condition_variable& wake, int& numSleeping) {
    std::unique_lock<std::mutex> lock(mutex);
    ++numSleeping;
    wake.wait(lock, ready);
    --numSleeping;
  }

  template <class TimePoint>
  static double microsSince(TimePoint start) {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
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

  SpinBudget budget_;
};

}  // namespace nano
