// The JS object `quant` (NativeQuant in src/native/binding.ts): the quantized formats' native
// dequantization and kernels exposed for tests and the kernel bench.
#pragma once
#include <napi.h>

namespace nano {

void registerQuant(Napi::Env env, Napi::Object exports);

}  // namespace nano
