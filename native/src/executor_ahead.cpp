// Decode ahead's state machine (decode_ahead.h: when a step may run ahead and why its result
// has the same bits) and the step profile's read-out. The runner runs steps ahead (runAhead);
// the JS thread takes a finished one or has it adopted when done (takeAhead), or cancels it
// (dropAhead); adoptAhead hands a finished one over and sets up the next.
#include <mutex>

#include "decode_ahead.h"
#include "executor_wrap.h"

namespace nano {

void ExecutorWrap::runAhead(bool isAhead) {
  while (isAhead && !stopping_.load(std::memory_order_acquire)) {
    bool isDone = false;
    try {
      isDone = core_->model.step(core_->aheadBatch, core_->aheadResult, &cancelAhead_);
    } catch (const std::exception&) {
      isDone = false;  // the caller's own step will meet the error, if it asks for this one
    }
    std::unique_lock<std::mutex> lock(mutex_);
    if (!isDone || cancelAhead_.load() || !isAdopted_) {
      ahead_ = isDone && !cancelAhead_.load() ? Ahead::Done : Ahead::None;
      if (ahead_ == Ahead::None) ++core_->model.profile().numAheadDropped;
      aheadStopped_.notify_all();
      return;
    }
    // The caller's step: its result, and perhaps the next step ahead.
    stepFailed_ = false;
    isAhead = adoptAhead();
    lock.unlock();
    postResult();
  }
}

// The finished step ahead becomes the caller's result, and the step after it is set up to run
// ahead when that result allows one (same conditions as after an ordinary step).
bool ExecutorWrap::adoptAhead() {
  std::swap(core_->result, core_->aheadResult);
  ++core_->model.profile().numAhead;
  const bool isAhead = canDecodeAhead(core_->aheadBatch, core_->result, core_->model.config(), core_->options.pageSize);
  if (isAhead) nextDecodeStep(core_->aheadBatch, core_->result, core_->aheadBatch);
  ahead_ = isAhead ? Ahead::Running : Ahead::None;
  isAdopted_ = false;
  return isAhead;
}

bool ExecutorWrap::takeAhead() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (ahead_ != Ahead::None && isSameStep(core_->aheadBatch, core_->batch)) {
    if (ahead_ == Ahead::Running) {
      isAdopted_ = true;  // the runner posts it when done
      return false;
    }
    // Done: its result now, and the next one ahead (the runner is idle, waiting for work).
    if (adoptAhead()) {
      cancelAhead_.store(false);
      hasAhead_.store(true, std::memory_order_release);
      if (runnerSleeping_) wake_.notify_one();
    }
    return true;
  }
  dropAhead(lock);
  hasStep_.store(true, std::memory_order_release);
  if (runnerSleeping_) wake_.notify_one();
  return false;
}

void ExecutorWrap::dropAhead(std::unique_lock<std::mutex>& lock) {
  if (ahead_ == Ahead::Running) {
    cancelAhead_.store(true);
    aheadStopped_.wait(lock, [&] { return ahead_ != Ahead::Running; });
  }
  if (ahead_ == Ahead::Done) ++core_->model.profile().numAheadDropped;
  ahead_ = Ahead::None;
}


// profile(on) -> what the profile gathered since the last call (ms per region, the pool's
// waits, step and gap totals, counts), then resets it and turns it on or off. Between steps only.
Napi::Value ExecutorWrap::profile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (isClosed_) throw codedError(env, "ERR_NATIVE_CLOSED", "executor is closed");
  if (isBusy_) throw codedError(env, "ERR_NATIVE_BUSY", "a step is in flight");
  if (!info[0].IsBoolean()) throw Napi::TypeError::New(env, "profile(on): on must be a boolean");
  {
    std::unique_lock<std::mutex> lock(mutex_);
    dropAhead(lock);  // a step ahead would write the profile while it is read
  }
  StepProfile& p = core_->model.profile();
  Napi::Object out = Napi::Object::New(env);
  const char* names[kNumStepRegions] = {"gemmMs", "attentionMs", "rowOpsMs", "lmHeadMs", "samplingMs"};
  for (int r = 0; r < kNumStepRegions; ++r) out.Set(names[r], Napi::Number::New(env, p.regionNs[r] / 1e6));
  out.Set("poolWaitMs", Napi::Number::New(env, p.poolWaitNs / 1e6));
  out.Set("dispatches", Napi::Number::New(env, double(p.dispatches)));
  out.Set("stepMs", Napi::Number::New(env, p.stepNs / 1e6));
  out.Set("gapMs", Napi::Number::New(env, p.gapNs / 1e6));
  out.Set("numSteps", Napi::Number::New(env, double(p.numSteps)));
  out.Set("numGaps", Napi::Number::New(env, double(p.numGaps)));
  out.Set("numAhead", Napi::Number::New(env, double(p.numAhead)));
  out.Set("numAheadDropped", Napi::Number::New(env, double(p.numAheadDropped)));
  p = StepProfile(info[0].As<Napi::Boolean>().Value());
  postedNs_ = 0;
  return out;
}

}  // namespace nano
