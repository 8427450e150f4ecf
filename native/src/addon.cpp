// Entry point of the addon: `version` and the `Executor` class.
#include <napi.h>

#include "executor_binding.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::String::New(env, "0.1.0"));
  nano::registerExecutor(env, exports);
  return exports;
}

NODE_API_MODULE(nano_serving, Init)
