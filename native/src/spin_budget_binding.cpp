// JS surface of the spin budget's rules (spin_wait.h), for tests: `spinBudget(maxMicros, events)`.
#include <napi.h>

#include <string>

#include "executor_binding.h"
#include "spin_wait.h"

namespace nano {

namespace {

Napi::Error configError(Napi::Env env, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, "ERR_NATIVE_CONFIG"));
  return error;
}

// spinBudget(maxMicros, events): the rules fed a list of waits, each [kind, waitedMicros, busy]
// with kind 0 = work caught while spinning, 1 = the spin ran out, 2 = woken by work; returns
// the budget after each.
Napi::Value spinBudget(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsArray()) throw configError(env, "spinBudget(maxMicros, events[])");
  SpinBudget budget(info[0].As<Napi::Number>().Int32Value());
  Napi::Array events = info[1].As<Napi::Array>();
  Napi::Array out = Napi::Array::New(env, events.Length());
  for (uint32_t i = 0; i < events.Length(); ++i) {
    Napi::Value e = events.Get(i);
    if (!e.IsArray() || e.As<Napi::Array>().Length() != 3) throw configError(env, "spinBudget: an event is [kind, waitedMicros, busy]");
    Napi::Array event = e.As<Napi::Array>();
    const int kind = event.Get(0u).ToNumber().Int32Value();
    const double waited = event.Get(1u).ToNumber().DoubleValue();
    const bool busy = event.Get(2u).ToBoolean().Value();
    if (kind == 0) budget.caught(waited, busy);
    else if (kind == 1) budget.ranOut(busy);
    else if (kind == 2) budget.woke(waited);
    else throw configError(env, "spinBudget: kind is 0 (caught), 1 (ran out) or 2 (woke)");
    out.Set(i, Napi::Number::New(env, budget.micros()));
  }
  return out;
}

}  // namespace

void registerSpinBudget(Napi::Env env, Napi::Object exports) { exports.Set("spinBudget", Napi::Function::New(env, spinBudget)); }

}  // namespace nano
