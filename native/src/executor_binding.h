// The JS class `Executor` (see NativeExecutorHandle in src/native/binding.ts).
#pragma once
#include <napi.h>

namespace nano {

void registerExecutor(Napi::Env env, Napi::Object exports);

}  // namespace nano
