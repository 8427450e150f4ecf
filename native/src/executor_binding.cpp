// JS surface of the executor: the constructor loads weights and allocates
// everything; step() validates synchronously, copies the inputs (with seqIds, only what
// changed: seq_state.h), and hands the forward pass to the executor's step thread (which touches no Napi:: object).
#include "executor_binding.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "decode_ahead.h"
#include "errors.h"
#include "forward.h"
#include "js_parse.h"
#include "seq_state.h"
#include "spin_wait.h"
#include "step_validation.h"

namespace nano {

namespace {

Napi::Error codedError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

// Capacity for the largest valid step up front, so steps do not allocate (page tables
// and histories have no fixed bound; they grow once to their high-water mark).
void reserveSteps(StepBatch& b, StepResult& r, const ExecutorOptions& o) {
  for (auto* v : {&b.tokens, &b.positions}) v->reserve(o.maxBatchTokens);
  for (auto* v : {&b.seqStart, &b.pageStart, &b.historyStart, &b.biasStart}) v->reserve(o.maxSeqs + 1);
  for (auto* v : {&b.topK, &b.historyPromptLen, &b.numTopLogprobs, &b.maskRow, &b.seqIds, &b.pageKeep}) v->reserve(o.maxSeqs);
  b.seqIsNew.reserve(o.maxSeqs);
  b.penalties.reserve(o.maxSeqs);
  for (auto* v : {&b.temperature, &b.topP, &b.minP, &b.presencePenalty, &b.frequencyPenalty, &b.repetitionPenalty})
    v->reserve(o.maxSeqs);
  b.isSampled.reserve(o.maxSeqs);
  b.seed.reserve(o.maxSeqs);
  r.tokens.reserve(o.maxSeqs);
  r.logprobs.reserve(o.maxSeqs);
  r.topIds.reserve(size_t(o.maxSeqs) * 20);
  r.topLogprobs.reserve(size_t(o.maxSeqs) * 20);
}

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
                       {InstanceMethod<&ExecutorWrap::step>("step"), InstanceMethod<&ExecutorWrap::close>("close"),
                        InstanceMethod<&ExecutorWrap::info>("info"), InstanceMethod<&ExecutorWrap::profile>("profile")});
  }

  explicit ExecutorWrap(const Napi::CallbackInfo& info);
  ~ExecutorWrap() override;

  static void onStepDone(Napi::Env env, Napi::Function, ExecutorWrap* self, void*) {
    if (env != nullptr) self->completeStep(env);
  }

 private:
  using Tsfn = Napi::TypedThreadSafeFunction<ExecutorWrap, void, &ExecutorWrap::onStepDone>;

  Napi::Value step(const Napi::CallbackInfo& info);
  Napi::Value close(const Napi::CallbackInfo& info);
  Napi::Value info(const Napi::CallbackInfo& info);
  Napi::Value profile(const Napi::CallbackInfo& info);
  void completeStep(Napi::Env env);  // on the JS thread, after the runner finished a step
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

template <class T>
static Napi::TypedArrayOf<T> copyOut(Napi::Env env, const std::vector<T>& v) {
  auto array = Napi::TypedArrayOf<T>::New(env, v.size());
  std::copy(v.begin(), v.end(), array.Data());
  return array;
}


ExecutorWrap::ExecutorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ExecutorWrap>(info) {
  Napi::Env env = info.Env();
  try {
    ModelConfig config = parseConfig(info[0]);
    TensorViews tensors = parseTensors(info[1], config);
    ExecutorOptions options = parseOptions(info[2]);
    validateOptions(options, config);
    GemmKernel kernel = chooseGemmKernel(options.kernel, options.weightDtype);
    Weights weights = loadWeights(config, options.weightDtype, tensors, kernel.usesPairs(), chooseQuantKernel(options.kernel));
    core_ = std::make_unique<Core>(config, options, kernel, std::move(weights));
  } catch (const CodedError& e) {
    throw codedError(env, e.code, e.what());
  } catch (const std::bad_alloc&) {
    throw codedError(env, "ERR_NATIVE_CONFIG", "out of memory allocating weights, KV pool or scratch");
  }
  if (const char* spin = std::getenv("NANO_SERVING_STEP_SPIN_US")) spinMicros_ = std::max(0, std::atoi(spin));
  runnerSpin_ = SpinWait(spinMicros_);
  keys_ = std::make_unique<StepKeys>(env);
  env_ = env;
  tsfn_ = Tsfn::New(env, "nano-serving-step", 0, 1, this);
  tsfn_.Unref(env);  // only a step in flight keeps the event loop alive
  runner_ = std::thread([this] { runnerLoop(); });
  hasCleanupHook_ = napi_add_env_cleanup_hook(env, onEnvCleanup, this) == napi_ok;
}

ExecutorWrap::~ExecutorWrap() {
  if (hasCleanupHook_) napi_remove_env_cleanup_hook(env_, onEnvCleanup, this);
  stopRunner();
}

void ExecutorWrap::onEnvCleanup(void* arg) {
  auto* self = static_cast<ExecutorWrap*>(arg);
  self->hasCleanupHook_ = false;
  self->stopRunner();
  self->core_.reset();
}

void ExecutorWrap::runnerLoop() {
  for (;;) {
    runnerSpin_.wait([&] { return hasStep_.load(std::memory_order_acquire) || hasAhead_.load(std::memory_order_acquire) ||
                              stopping_.load(std::memory_order_acquire); },
                     mutex_, wake_, runnerSleeping_);
    if (hasAhead_.exchange(false, std::memory_order_acq_rel) && !stopping_.load(std::memory_order_acquire)) {
      runAhead(true);
      continue;
    }
    if (!hasStep_.load(std::memory_order_acquire)) return;  // stopping, no step pending
    StepProfile& profile = core_->model.profile();
    if (profile.isOn && postedNs_ != 0) {
      profile.gapNs += double(StepProfile::nowNs() - postedNs_);
      ++profile.numGaps;
    }
    stepFailed_ = false;
    try {
      core_->model.step(core_->batch, core_->result);
    } catch (const std::exception& e) {
      stepFailed_ = true;
      stepError_ = e.what();
    }
    const ModelConfig& config = core_->model.config();
    const bool isAhead = !stepFailed_ && core_->options.decodeAhead &&
                         canDecodeAhead(core_->batch, core_->result, config, core_->options.pageSize);
    if (isAhead) nextDecodeStep(core_->batch, core_->result, core_->aheadBatch);  // before the JS thread may parse the next step
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ahead_ = isAhead ? Ahead::Running : Ahead::None;
      isAdopted_ = false;
      cancelAhead_.store(false);
    }
    postResult();
    runAhead(isAhead);
    if (stopping_.load(std::memory_order_acquire)) return;
  }
}

void ExecutorWrap::postResult() {
  postedNs_ = core_->model.profile().isOn ? StepProfile::nowNs() : 0;
  hasStep_.store(false, std::memory_order_release);
  tsfn_.NonBlockingCall();
}

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

void ExecutorWrap::stopRunner() {
  if (!runner_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true);
    cancelAhead_.store(true);
  }
  wake_.notify_all();
  runner_.join();
  tsfn_.Release();
}

Napi::Value ExecutorWrap::step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (isClosed_) throw codedError(env, "ERR_NATIVE_CLOSED", "executor is closed");
  if (isBusy_) throw codedError(env, "ERR_NATIVE_BUSY", "a step is already in flight");
  try {
    parseStep(info[0], *keys_, core_->batch);
    validateStep(core_->batch, core_->model.config(), core_->options);
    core_->seqs.apply(core_->batch, core_->options, core_->model.config().vocabSize);  // checks the deltas before it changes anything
  } catch (const CodedError& e) {
    throw codedError(env, e.code, e.what());
  }
  isBusy_ = true;
  self_ = Napi::Persistent(info.This().As<Napi::Object>());
  if (core_->batch.maskReady) stepInput_ = Napi::Persistent(info[0].As<Napi::Object>());
  deferred_ = std::make_unique<Napi::Promise::Deferred>(Napi::Promise::Deferred::New(env));
  tsfn_.Ref(env);
  Napi::Promise promise = deferred_->Promise();
  if (takeAhead()) {  // computed ahead and done: resolve now
    stepFailed_ = false;
    completeStep(env);
  }
  return promise;
}

void ExecutorWrap::completeStep(Napi::Env env) {
  Napi::HandleScope scope(env);
  std::unique_ptr<Napi::Promise::Deferred> deferred = std::move(deferred_);
  tsfn_.Unref(env);
  if (stepFailed_) {
    finishStep();
    deferred->Reject(codedError(env, "ERR_NATIVE_STEP", stepError_).Value());
  } else {
    const StepResult& r = core_->result;
    Napi::Object out = Napi::Object::New(env);
    out.Set("tokens", copyOut<int32_t>(env, r.tokens));
    out.Set("logprobs", copyOut<float>(env, r.logprobs));
    out.Set("topK", Napi::Number::New(env, r.topK));
    out.Set("topIds", copyOut<int32_t>(env, r.topIds));
    out.Set("topLogprobs", copyOut<float>(env, r.topLogprobs));
    if (core_->batch.returnLogits) out.Set("logits", copyOut<float>(env, r.logits));
    finishStep();
    deferred->Resolve(out);
  }
  self_.Reset();
  stepInput_.Reset();
}

void ExecutorWrap::finishStep() {
  isBusy_ = false;
  if (isClosed_) {  // close() came during the step
    stopRunner();
    core_.reset();
  }
}

Napi::Value ExecutorWrap::close(const Napi::CallbackInfo& info) {
  isClosed_ = true;
  if (!isBusy_) {
    stopRunner();
    core_.reset();  // joins the threads, frees weights and KV
  }
  return info.Env().Undefined();
}

Napi::Value ExecutorWrap::info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (isClosed_) throw codedError(env, "ERR_NATIVE_CLOSED", "executor is closed");
  Napi::Object out = Napi::Object::New(env);
  out.Set("weightBytes", Napi::Number::New(env, double(core_->model.weightBytes())));
  out.Set("kvBytes", Napi::Number::New(env, double(core_->model.kvBytes())));
  out.Set("kernel", Napi::String::New(env, core_->model.kernelName()));
  if (const char* quant = core_->model.quantKernelName()) out.Set("quantKernel", Napi::String::New(env, quant));
  out.Set("numThreads", Napi::Number::New(env, core_->model.numThreads()));
  return out;
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

}  // namespace

void registerExecutor(Napi::Env env, Napi::Object exports) {
  exports.Set("Executor", ExecutorWrap::define(env));
  registerSpinBudget(env, exports);
}

}  // namespace nano
