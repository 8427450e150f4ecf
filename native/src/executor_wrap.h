// The executor's native object: what it owns (Core) and the wrapper class the JS `Executor` is.
// executor_binding.cpp: construction, the step runner, step(), close(), info();
// executor_ahead.cpp: decode ahead's state machine (decode_ahead.h) and profile().
#pragma once
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "forward.h"
#include "js_parse.h"
#include "seq_state.h"
#include "spin_wait.h"

namespace nano {

Napi::Error codedError(Napi::Env env, const std::string& code, const std::string& message);

// Capacity for the largest valid step up front, so steps do not allocate (page tables
// and histories have no fixed bound; they grow once to their high-water mark).
void reserveSteps(StepBatch& b, StepResult& r, const ExecutorOptions& o);

// Everything one executor owns: the model (weights, KV, threads, scratch) and the step buffers.
struct Core {
  Core(const ModelConfig& c, const ExecutorOptions& o, const GemmKernel& k, Weights w)
      : options(o), model(c, o, k, std::move(w)) {
    reserveSteps(batch, result, o);
    reserveSteps(aheadBatch, aheadResult, o);
  }
  ExecutorOptions options;
  Model model;
  StepBatch batch;
  StepResult result;
  StepBatch aheadBatch;    // the step computed ahead (decode_ahead.h)
  StepResult aheadResult;
  SeqTable seqs;  // what the executor keeps per sequence between steps
};

class ExecutorWrap;
// The step's thread-safe-function callback, on the JS thread (executor_binding.cpp). Not an inline
// static member: GCC's UBSan build cannot fold an inline (weak) function's address to non-null in
// node-addon-api's `call == nullptr` template test, and the sanitizer build fails.
void onStepDone(Napi::Env env, Napi::Function, ExecutorWrap* self, void*);

// Steps run on a dedicated thread (the pool's thread 0) rather than on libuv's pool: after a
// step it spins a while for the next one (NANO_SERVING_STEP_SPIN_US, default 2000, adaptive:
// spin_wait.h), so the
// next step starts at once instead of paying a thread wake-up (4 us median, 50 us at worst on
// this VM after 2 ms idle with a core free; longer when the cores are busy). The pool's other workers still sleep soon after a step, so between steps only
// the JS thread and this one are runnable. Results come back through a thread-safe function.
class ExecutorWrap : public Napi::ObjectWrap<ExecutorWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Executor",
                       {InstanceMethod<&ExecutorWrap::step>("step"), InstanceMethod<&ExecutorWrap::stepSync>("stepSync"),
                        InstanceMethod<&ExecutorWrap::close>("close"),
                        InstanceMethod<&ExecutorWrap::info>("info"), InstanceMethod<&ExecutorWrap::profile>("profile")});
  }

  explicit ExecutorWrap(const Napi::CallbackInfo& info);
  ~ExecutorWrap() override;

  // On the JS thread, after the runner finished a step (called by onStepDone; public because a
  // friend declaration of onStepDone brings back the sanitizer build's failure above).
  void completeStep(Napi::Env env);

 private:
  using Tsfn = Napi::TypedThreadSafeFunction<ExecutorWrap, void, &onStepDone>;

  Napi::Value step(const Napi::CallbackInfo& info);
  Napi::Value stepSync(const Napi::CallbackInfo& info);
  void takeStepInput(const Napi::CallbackInfo& info, bool isSync);  // parses, checks and applies the step's input (throws)
  Napi::Object resultObject(Napi::Env env) const;     // the finished step's result as JS arrays
  Napi::Value close(const Napi::CallbackInfo& info);
  Napi::Value info(const Napi::CallbackInfo& info);
  Napi::Value profile(const Napi::CallbackInfo& info);
  void finishStep();
  void runnerLoop();
  void postResult();
  void runAhead(bool isAhead);  // runner: steps ahead, as long as the caller asks for each
  bool takeAhead();             // JS thread: true when the step ahead is the one just parsed and already done
  bool adoptAhead();            // under mutex_: the finished step ahead becomes the result; true if a next one is set up
  void dropAhead(std::unique_lock<std::mutex>& lock);  // JS thread: cancels a step ahead, waits for it to stop
  void stopRunner();  // joins the runner (finishing a step in flight); idempotent
  static void onEnvCleanup(void* self);

  std::unique_ptr<Core> core_;
  std::unique_ptr<StepKeys> keys_;  // the step input's property names, made once
  bool isBusy_ = false;
  bool isClosed_ = false;
  napi_env env_ = nullptr;
  bool hasCleanupHook_ = false;

  Tsfn tsfn_;
  std::thread runner_;
  int spinMicros_ = 2000;
  std::mutex mutex_;
  std::condition_variable wake_;
  int runnerSleeping_ = 0;  // guarded by mutex_
  SpinWait runnerSpin_{2000};
  std::atomic<bool> hasStep_{false};
  std::atomic<bool> stopping_{false};
  // Decode ahead (decode_ahead.h), guarded by mutex_: the state of the step ahead, whether the
  // caller asked for it while it ran, and the signal that it left Running.
  enum class Ahead { None, Running, Done };
  Ahead ahead_ = Ahead::None;
  bool isAdopted_ = false;
  std::atomic<bool> cancelAhead_{false};
  std::atomic<bool> hasAhead_{false};  // the JS thread took a finished step ahead and asks for the next one
  std::condition_variable aheadStopped_;
  bool stepFailed_ = false;  // written by the runner before it signals, read on the JS thread after
  int64_t postedNs_ = 0;     // when the runner posted the last result (profiling; 0: not since profile())
  std::string stepError_;
  Napi::ObjectReference self_;  // keeps the executor alive while a step runs
  Napi::ObjectReference stepInput_;  // keeps deferred token masks (read in place) alive while a step runs
  std::unique_ptr<Napi::Promise::Deferred> deferred_;
};

}  // namespace nano
