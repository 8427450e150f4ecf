// The JS class `Executor` (see NativeExecutorHandle in src/native/binding.ts).
#pragma once
#include <napi.h>

namespace nano {

void registerExecutor(Napi::Env env, Napi::Object exports);  // also registers spinBudget

// `spinBudget(maxMicros, events)`: the spin budget's rules for tests (spin_budget_binding.cpp).
void registerSpinBudget(Napi::Env env, Napi::Object exports);

}  // namespace nano
