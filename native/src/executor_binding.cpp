// JS surface of the executor: the constructor loads weights and allocates
// everything; step() validates synchronously, copies the inputs, and runs the
// forward pass in a Napi::AsyncWorker (Execute touches no Napi:: object).
#include "executor_binding.h"

#include <memory>

#include "errors.h"
#include "forward.h"
#include "js_parse.h"
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
  for (auto* v : {&b.seqStart, &b.pageStart, &b.historyStart}) v->reserve(o.maxSeqs + 1);
  for (auto* v : {&b.topK, &b.historyPromptLen, &b.numTopLogprobs}) v->reserve(o.maxSeqs);
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
  }
  ExecutorOptions options;
  Model model;
  StepBatch batch;
  StepResult result;
};

class ExecutorWrap : public Napi::ObjectWrap<ExecutorWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Executor",
                       {InstanceMethod<&ExecutorWrap::step>("step"), InstanceMethod<&ExecutorWrap::close>("close"),
                        InstanceMethod<&ExecutorWrap::info>("info")});
  }

  explicit ExecutorWrap(const Napi::CallbackInfo& info);

  Core* core() { return core_.get(); }
  void finishStep();  // on the JS thread, after the worker resolved or rejected

 private:
  Napi::Value step(const Napi::CallbackInfo& info);
  Napi::Value close(const Napi::CallbackInfo& info);
  Napi::Value info(const Napi::CallbackInfo& info);

  std::unique_ptr<Core> core_;
  bool isBusy_ = false;
  bool isClosed_ = false;
};

class StepWorker : public Napi::AsyncWorker {
 public:
  StepWorker(Napi::Env env, ExecutorWrap* owner, Napi::Object self)
      : Napi::AsyncWorker(env), owner_(owner), self_(Napi::Persistent(self)), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      owner_->core()->model.step(owner_->core()->batch, owner_->core()->result);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    const StepResult& r = owner_->core()->result;
    Napi::Object out = Napi::Object::New(env);
    out.Set("tokens", copyOut<int32_t>(env, r.tokens));
    out.Set("logprobs", copyOut<float>(env, r.logprobs));
    out.Set("topK", Napi::Number::New(env, r.topK));
    out.Set("topIds", copyOut<int32_t>(env, r.topIds));
    out.Set("topLogprobs", copyOut<float>(env, r.topLogprobs));
    if (owner_->core()->batch.returnLogits) out.Set("logits", copyOut<float>(env, r.logits));
    owner_->finishStep();
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& error) override {
    owner_->finishStep();
    deferred_.Reject(codedError(Env(), "ERR_NATIVE_STEP", error.Message()).Value());
  }

 private:
  template <class T>
  static Napi::TypedArrayOf<T> copyOut(Napi::Env env, const std::vector<T>& v) {
    auto array = Napi::TypedArrayOf<T>::New(env, v.size());
    std::copy(v.begin(), v.end(), array.Data());
    return array;
  }

  ExecutorWrap* owner_;
  Napi::ObjectReference self_;  // keeps the executor alive while the step runs
  Napi::Promise::Deferred deferred_;
};

ExecutorWrap::ExecutorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ExecutorWrap>(info) {
  Napi::Env env = info.Env();
  try {
    ModelConfig config = parseConfig(info[0]);
    TensorViews tensors = parseTensors(info[1], config);
    ExecutorOptions options = parseOptions(info[2]);
    validateOptions(options, config);
    GemmKernel kernel = chooseGemmKernel(options.kernel, options.weightDtype);
    Weights weights = loadWeights(config, options.weightDtype, tensors, kernel.usesPairs());
    core_ = std::make_unique<Core>(config, options, kernel, std::move(weights));
  } catch (const CodedError& e) {
    throw codedError(env, e.code, e.what());
  } catch (const std::bad_alloc&) {
    throw codedError(env, "ERR_NATIVE_CONFIG", "out of memory allocating weights, KV pool or scratch");
  }
}

Napi::Value ExecutorWrap::step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (isClosed_) throw codedError(env, "ERR_NATIVE_CLOSED", "executor is closed");
  if (isBusy_) throw codedError(env, "ERR_NATIVE_BUSY", "a step is already in flight");
  try {
    parseStep(info[0], core_->batch);
    validateStep(core_->batch, core_->model.config(), core_->options);
  } catch (const CodedError& e) {
    throw codedError(env, e.code, e.what());
  }
  isBusy_ = true;
  auto* worker = new StepWorker(env, this, info.This().As<Napi::Object>());
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

void ExecutorWrap::finishStep() {
  isBusy_ = false;
  if (isClosed_) core_.reset();  // close() came during the step
}

Napi::Value ExecutorWrap::close(const Napi::CallbackInfo& info) {
  isClosed_ = true;
  if (!isBusy_) core_.reset();  // joins the threads, frees weights and KV
  return info.Env().Undefined();
}

Napi::Value ExecutorWrap::info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (isClosed_) throw codedError(env, "ERR_NATIVE_CLOSED", "executor is closed");
  Napi::Object out = Napi::Object::New(env);
  out.Set("weightBytes", Napi::Number::New(env, double(core_->model.weightBytes())));
  out.Set("kvBytes", Napi::Number::New(env, double(core_->model.kvBytes())));
  out.Set("kernel", Napi::String::New(env, core_->model.kernelName()));
  out.Set("numThreads", Napi::Number::New(env, core_->model.numThreads()));
  return out;
}

}  // namespace

void registerExecutor(Napi::Env env, Napi::Object exports) {
  exports.Set("Executor", ExecutorWrap::define(env));
}

}  // namespace nano
