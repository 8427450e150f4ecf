// Entry point of the addon: `version`, the `Executor` class, the `quant` functions and the
// `clonesUsed` probe.
#include <napi.h>

#include "executor_binding.h"
#include "isa.h"
#include "quant_binding.h"

namespace {

// clonesUsed(reset) -> { rowOps: string[], sampling: string[] }: the builds of the row ops and of
// sampling that ran since the last reset (isa.h); reset = true clears them after reading.
Napi::Value clonesUsedJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool reset = info.Length() > 0 && info[0].ToBoolean().Value();
  static const char* names[] = {"portable", "avx2", "avx512"};
  Napi::Object out = Napi::Object::New(env);
  for (nano::CloneFamily family : {nano::CloneFamily::RowOps, nano::CloneFamily::Sampling}) {
    std::atomic<unsigned>& used = nano::clonesUsed(family);
    const unsigned bits = reset ? used.exchange(0) : used.load();
    Napi::Array list = Napi::Array::New(env);
    for (unsigned i = 0; i < 3; ++i)
      if (bits & (1u << i)) list.Set(list.Length(), Napi::String::New(env, names[i]));
    out.Set(family == nano::CloneFamily::RowOps ? "rowOps" : "sampling", list);
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
