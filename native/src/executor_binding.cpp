// JS surface of the executor: the constructor loads weights and allocates
// everything; step() validates synchronously, copies the inputs (with seqIds, only what
// changed: seq_state.h), and hands the forward pass to the executor's step thread (which touches no Napi:: object).
#include "executor_binding.h"

#include <algorithm>
#include <cstdlib>

#include "decode_ahead.h"
#include "errors.h"
#include "executor_wrap.h"
#include "step_validation.h"

namespace nano {

Napi::Error codedError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

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

namespace {

template <class T>
Napi::TypedArrayOf<T> copyOut(Napi::Env env, const std::vector<T>& v) {
  auto array = Napi::TypedArrayOf<T>::New(env, v.size());
  std::copy(v.begin(), v.end(), array.Data());
  return array;
}

}  // namespace

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

void onStepDone(Napi::Env env, Napi::Function, ExecutorWrap* self, void*) {
  if (env != nullptr) self->completeStep(env);
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

void ExecutorWrap::takeStepInput(const Napi::CallbackInfo& info, bool isSync) {
  Napi::Env env = info.Env();
  if (isClosed_) throw codedError(env, "ERR_NATIVE_CLOSED", "executor is closed");
  if (isBusy_) throw codedError(env, "ERR_NATIVE_BUSY", "a step is already in flight");
  try {
    parseStep(info[0], *keys_, core_->batch);
    validateStep(core_->batch, core_->model.config(), core_->options);
    if (isSync && core_->batch.maskReady)  // its masks are written by JS while the step runs: not while JS waits in it
      throw CodedError("ERR_NATIVE_SYNC", "stepSync cannot take deferred token masks (maskReady): use step()");
    core_->seqs.apply(core_->batch, core_->options, core_->model.config().vocabSize);  // checks the deltas before it changes anything
  } catch (const CodedError& e) {
    throw codedError(env, e.code, e.what());
  }
}

Napi::Value ExecutorWrap::step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  takeStepInput(info, false);
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
    Napi::Object out = resultObject(env);
    finishStep();
    deferred->Resolve(out);
  }
  self_.Reset();
  stepInput_.Reset();
}

Napi::Object ExecutorWrap::resultObject(Napi::Env env) const {
  const StepResult& r = core_->result;
  Napi::Object out = Napi::Object::New(env);
  out.Set("tokens", copyOut<int32_t>(env, r.tokens));
  out.Set("logprobs", copyOut<float>(env, r.logprobs));
  out.Set("topK", Napi::Number::New(env, r.topK));
  out.Set("topIds", copyOut<int32_t>(env, r.topIds));
  out.Set("topLogprobs", copyOut<float>(env, r.topLogprobs));
  if (core_->batch.returnLogits) out.Set("logits", copyOut<float>(env, r.logits));
  return out;
}

// The step on the calling (JS) thread, as the pool's thread 0: no hand-off to the runner and no
// thread-safe function back, so none of the binding's round trip (the runner idles meanwhile). A
// step ahead that is the same step and done is taken; any other is dropped first (never computed
// ahead after a synchronous step: that would need the runner to run beside the JS thread).
Napi::Value ExecutorWrap::stepSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  takeStepInput(info, true);
  {
    std::unique_lock<std::mutex> lock(mutex_);
    const bool isDone = ahead_ == Ahead::Done && isSameStep(core_->aheadBatch, core_->batch);
    if (isDone) {
      std::swap(core_->result, core_->aheadResult);
      ++core_->model.profile().numAhead;
      ahead_ = Ahead::None;
    } else {
      dropAhead(lock);
    }
    if (isDone) return resultObject(env);
  }
  StepProfile& profile = core_->model.profile();
  if (profile.isOn && postedNs_ != 0) {
    profile.gapNs += double(StepProfile::nowNs() - postedNs_);
    ++profile.numGaps;
  }
  try {
    core_->model.step(core_->batch, core_->result);
  } catch (const std::exception& e) {
    postedNs_ = 0;
    throw codedError(env, "ERR_NATIVE_STEP", e.what());
  }
  postedNs_ = profile.isOn ? StepProfile::nowNs() : 0;
  return resultObject(env);
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

void registerExecutor(Napi::Env env, Napi::Object exports) {
  exports.Set("Executor", ExecutorWrap::define(env));
  registerSpinBudget(env, exports);
}

}  // namespace nano
