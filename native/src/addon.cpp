// Entry point of the addon: `version`, the `Executor` class and the `quant` functions.
#include <napi.h>

#include "executor_binding.h"
#include "quant_binding.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::String::New(env, "0.1.0"));
  nano::registerExecutor(env, exports);
  nano::registerQuant(env, exports);
  return exports;
}

NODE_API_MODULE(nano_serving, Init)
