// Where a step's time goes, for the decode bench's breakdown: wall time per region of the
// forward pass as thread 0 (the step runner) sees it, the part of it thread 0 spent waiting
// for the pool's other threads at the end of a dispatch, and the runner's gap between posting
// a result and seeing the next step. Off unless the executor's profile(true) turned it on;
// when off every probe is one branch. Only the runner writes it, only between steps is it read.
#pragma once
#include <chrono>
#include <cstdint>

namespace nano {

enum class StepRegion { Gemm, Attention, RowOps, LmHead, Sampling };
constexpr int kNumStepRegions = 5;

struct StepProfile {
  bool isOn = false;
  double regionNs[kNumStepRegions] = {};
  double poolWaitNs = 0;  // thread 0 waiting for the others' chunks (inside the regions' time)
  uint64_t dispatches = 0;  // pool jobs handed to more than one thread
  double stepNs = 0;        // Model::step, whole
  double gapNs = 0;         // runner: result posted -> next step seen (JS thread, binding, JS code)
  uint64_t numSteps = 0, numGaps = 0;
  uint64_t numAhead = 0, numAheadDropped = 0;  // steps computed ahead that the caller asked for / that were dropped

  explicit StepProfile(bool on = false) : isOn(on) {}

  static int64_t nowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
};

// Adds the scope's wall time to one region (nothing when profiling is off).
class ProfileScope {
 public:
  ProfileScope(StepProfile& p, StepRegion r) : p_(p.isOn ? &p : nullptr), region_(int(r)), start_(p_ ? StepProfile::nowNs() : 0) {}
  ~ProfileScope() {
    if (p_) p_->regionNs[region_] += double(StepProfile::nowNs() - start_);
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  StepProfile* p_;
  int region_;
  int64_t start_;
};

}  // namespace nano
