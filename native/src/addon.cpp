// Entry point of the addon: `version`, the `Executor` class, the `quant` functions and the
// `clonesUsed` probe.
#include <napi.h>

#include "executor_binding.h"
#include "isa.h"
#include "quant_binding.h"

namespace {

// clonesUsed(reset) -> { gemm, quantGemm, quantActs, attention, kvStore, rowOps, sampling }: for
// each kernel family, the builds that ran since the last reset (isa.h: Build); reset = true
// clears them after reading.
Napi::Value clonesUsedJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool reset = info.Length() > 0 && info[0].ToBoolean().Value();
  static const char* builds[nano::kNumBuilds] = {"portable", "avx2", "avx512", "avx-vnni", "avx512-vnni", "avx512-bf16", "f16c"};
  static const char* families[nano::kNumCloneFamilies] = {"gemm", "quantGemm", "quantActs", "attention", "kvStore", "rowOps", "sampling"};
  Napi::Object out = Napi::Object::New(env);
  for (int f = 0; f < nano::kNumCloneFamilies; ++f) {
    std::atomic<unsigned>& used = nano::clonesUsed(nano::CloneFamily(f));
    const unsigned bits = reset ? used.exchange(0) : used.load();
    Napi::Array list = Napi::Array::New(env);
    for (int b = 0; b < nano::kNumBuilds; ++b)
      if (bits & (1u << b)) list.Set(list.Length(), Napi::String::New(env, builds[b]));
    out.Set(families[f], list);
  }
  return out;
}

}  // namespace

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::String::New(env, "0.1.0"));
  nano::registerExecutor(env, exports);
  nano::registerQuant(env, exports);
  exports.Set("clonesUsed", Napi::Function::New(env, clonesUsedJs, "clonesUsed"));
  return exports;
}

NODE_API_MODULE(nano_serving, Init)
