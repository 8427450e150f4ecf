#include "quant_binding.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <string>
#include <vector>

#include "kv_cache.h"
#include "quant_acts.h"
#include "quant_gemm.h"
#include "weights_mmap.h"

namespace nano {

namespace {

Napi::Error typeError(Napi::Env env, const std::string& message) {
  Napi::Error e = Napi::TypeError::New(env, message);
  e.Set("code", Napi::String::New(env, "ERR_NATIVE_TENSOR"));
  return e;
}

QuantType parseType(Napi::Env env, const Napi::Value& v) {
  static const char* names[kNumQuantTypes] = {"q8_0", "q4_0", "q4_k", "q5_k", "q6_k"};
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  for (int i = 0; i < kNumQuantTypes; ++i)
    if (s == names[i]) return QuantType(i);
  throw typeError(env, "unknown quantized dtype '" + s + "'");
}

// The [rows, k] blocks in `bytes`, checked.
const uint8_t* blocks(Napi::Env env, const Napi::Value& v, QuantType type, int64_t rows, int64_t k) {
  const QuantTraits& t = quantTraits(type);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw typeError(env, "blocks must be a Uint8Array");
  Napi::Uint8Array a = v.As<Napi::Uint8Array>();
  if (k <= 0 || rows <= 0 || k % t.blockElems != 0 || int64_t(a.ByteLength()) != rows * (k / t.blockElems) * t.blockBytes)
    throw typeError(env, std::string("blocks do not hold [rows, k] of ") + t.name);
  return a.Data();
}

QuantKernel kernelNamed(Napi::Env env, const std::string& name) {
  if (name == "portable") return portableQuantKernel();
  if (name == "avx2" && avx2QuantAvailable()) return avx2QuantKernel();
  if (name == "avx-vnni" && avxVnniQuantAvailable()) return avxVnniQuantKernel();
  if (name == "avx512-vnni" && avx512VnniQuantAvailable()) return avx512VnniQuantKernel();
  if (name == "auto") return chooseQuantKernel(KernelChoice::Auto);
  throw typeError(env, "quantized kernel '" + name + "' is not available on this CPU");
}

// dequantize(dtype, blocks, rows, k) -> Float32Array(rows * k)
Napi::Value dequantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const QuantType type = parseType(env, info[0]);
  const int64_t rows = info[2].As<Napi::Number>().Int64Value(), k = info[3].As<Napi::Number>().Int64Value();
  const uint8_t* src = blocks(env, info[1], type, rows, k);
  Napi::Float32Array out = Napi::Float32Array::New(env, size_t(rows * k));
  const size_t rowBytes = size_t(k / quantTraits(type).blockElems) * quantTraits(type).blockBytes;
  for (int64_t r = 0; r < rows; ++r) dequantizeRow(type, src + r * rowBytes, int(k), out.Data() + r * k);
  return out;
}

// The arguments matmul and timeMatmul share: (dtype, blocks, n, k, x, m, kernel, threads).
struct MatmulArgs {
  QuantKernel kernel;
  std::shared_ptr<QuantMatrix> w;
  int n, k, m, threads;
  const float* x;
};

MatmulArgs matmulArgs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const QuantType type = parseType(env, info[0]);
  const int n = info[2].As<Napi::Number>().Int32Value(), k = info[3].As<Napi::Number>().Int32Value();
  const int m = info[5].As<Napi::Number>().Int32Value(), threads = info[7].As<Napi::Number>().Int32Value();
  const uint8_t* src = blocks(env, info[1], type, n, k);
  if (!info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
      m <= 0 || info[4].As<Napi::Float32Array>().ElementLength() != size_t(m) * k || threads < 1 || threads > 64)
    throw typeError(env, "x must be a Float32Array of m * k values, threads 1..64");
  const QuantKernel kernel = kernelNamed(env, info[6].As<Napi::String>().Utf8Value());
  return {kernel, makeQuantMatrix({{type, n, src}}, k, kernel.layout), n, k, m, threads, info[4].As<Napi::Float32Array>().Data()};
}

// matmul(dtype, blocks, n, k, x: Float32Array(m * k), m, kernel, threads) -> Float32Array(m * n)
Napi::Value matmul(const Napi::CallbackInfo& info) {
  const MatmulArgs a = matmulArgs(info);
  std::vector<uint8_t> scratch(size_t(a.m) * quantActRowBytes(a.k));
  Napi::Float32Array y = Napi::Float32Array::New(info.Env(), size_t(a.m) * a.n);
  ThreadPool pool(a.threads, 0);
  quantGemm(pool, a.kernel, a.x, a.k, a.m, *a.w, nullptr, y.Data(), a.n, scratch.data());
  return y;
}

// The calling thread's CPU time, seconds (with one thread, the product's own work whatever
// else the machine runs).
double threadCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + t.tv_nsec * 1e-9;
}

// timeMatmul(dtype, blocks, n, k, x, m, kernel, threads, reps) -> { wall, cpu }: median seconds
// of one product, wall clock and the calling thread's CPU time (the matrix stored in the
// kernel's layout once, outside the timing; for the kernel bench).
Napi::Value timeMatmul(const Napi::CallbackInfo& info) {
  const MatmulArgs a = matmulArgs(info);
  const int reps = std::max(1, info[8].As<Napi::Number>().Int32Value());
  std::vector<uint8_t> scratch(size_t(a.m) * quantActRowBytes(a.k));
  std::vector<float> y(size_t(a.m) * a.n);
  ThreadPool pool(a.threads, 0);
  std::vector<double> wall, cpu;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = threadCpuSeconds();
    quantGemm(pool, a.kernel, a.x, a.k, a.m, *a.w, nullptr, y.data(), a.n, scratch.data());
    cpu.push_back(threadCpuSeconds() - c0);
    wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("wall", wall[wall.size() / 2]);
  out.Set("cpu", cpu[cpu.size() / 2]);
  return out;
}

// readBandwidth(megabytes, threads) -> GB/s of reading a fresh buffer of that size, split
// over the threads, best of 3 passes: the memory bound of a decode step that reads every weight.
Napi::Value readBandwidth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int mb = info[0].As<Napi::Number>().Int32Value(), threads = info[1].As<Napi::Number>().Int32Value();
  if (mb < 1 || mb > 4096 || threads < 1 || threads > 64) throw typeError(env, "megabytes 1..4096, threads 1..64");
  const size_t words = size_t(mb) << 17;  // 8-byte words
  AlignedVec<uint64_t> buf(words, 1);
  ThreadPool pool(threads, 0);
  std::vector<uint64_t> sums(threads);
  double best = 0;
  for (int pass = 0; pass < 3; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallelFor(threads, 1, [&](int begin, int, int t) {
      const size_t from = words * begin / threads, to = words * (begin + 1) / threads;
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (size_t i = from; i + 4 <= to; i += 4) { s0 += buf[i]; s1 += buf[i + 1]; s2 += buf[i + 2]; s3 += buf[i + 3]; }
      sums[t] += s0 + s1 + s2 + s3;
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, words * 8 / s / 1e9);
  }
  return Napi::Number::New(env, sums[0] == 0 ? 0 : best);
}

// kvQ8(values: Float32Array, headDim) -> { codes: Int8Array, scales: Float32Array }: each
// head_dim run of values quantized as the q8_0 KV pool stores a key or value (quantizeKvQ8),
// codes in order, scales by block.
Napi::Value kvQ8(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw typeError(env, "values must be a Float32Array");
  Napi::Float32Array x = info[0].As<Napi::Float32Array>();
  const int64_t hd = info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 0;
  if (hd < 16 || hd % 16 != 0 || hd > (1 << 16) || int64_t(x.ElementLength()) % hd != 0)
    throw typeError(env, "headDim must be a multiple of 16 that divides the values' length");
  const int64_t rows = int64_t(x.ElementLength()) / hd, nb = (hd + kQ8Block - 1) / kQ8Block;
  Napi::Int8Array codes = Napi::Int8Array::New(env, x.ElementLength());
  Napi::Float32Array scales = Napi::Float32Array::New(env, size_t(rows * nb));
  for (int64_t r = 0; r < rows; ++r)
    quantizeKvQ8(x.Data() + r * hd, int(hd), codes.Data() + r * hd, 1, scales.Data() + r * nb, 1);
  Napi::Object out = Napi::Object::New(env);
  out.Set("codes", codes);
  out.Set("scales", scales);
  return out;
}

// kernels() -> the kernel names this CPU runs, portable first.
Napi::Value kernels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::string> names = {"portable"};
  if (avx2QuantAvailable()) names.push_back("avx2");
  if (avxVnniQuantAvailable()) names.push_back("avx-vnni");
  if (avx512VnniQuantAvailable()) names.push_back("avx512-vnni");
  Napi::Array out = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); ++i) out.Set(uint32_t(i), Napi::String::New(env, names[i]));
  return out;
}

}  // namespace

void registerQuant(Napi::Env env, Napi::Object exports) {
  Napi::Object quant = Napi::Object::New(env);
  quant.Set("dequantize", Napi::Function::New(env, dequantize));
  quant.Set("matmul", Napi::Function::New(env, matmul));
  quant.Set("timeMatmul", Napi::Function::New(env, timeMatmul));
  quant.Set("kernels", Napi::Function::New(env, kernels));
  quant.Set("readBandwidth", Napi::Function::New(env, readBandwidth));
  quant.Set("kvQ8", Napi::Function::New(env, kvQ8));
  exports.Set("quant", quant);
  exports.Set("mapFile", Napi::Function::New(env, mapFile));
}

}  // namespace nano
