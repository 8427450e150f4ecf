#include "js_parse.h"

#include <cmath>
#include <string>

#include "errors.h"
#include "weights.h"

namespace nano {

namespace {

Napi::Object asObject(const Napi::Value& v, const char* code, const std::string& what) {
  if (!v.IsObject()) fail(code, what + " must be an object");
  return v.As<Napi::Object>();
}

double number(const Napi::Object& o, const char* key, const char* code) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) fail(code, std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

int integer(const Napi::Object& o, const char* key, const char* code) {
  double d = number(o, key, code);
  if (!std::isfinite(d) || std::floor(d) != d || d < -2147483648.0 || d > 2147483647.0)
    fail(code, std::string(key) + " must be an integer");
  return int(d);
}

bool boolean(const Napi::Object& o, const char* key, const char* code) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) fail(code, std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string string(const Napi::Object& o, const char* key, const char* code) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) fail(code, std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

}  // namespace

ModelConfig parseConfig(const Napi::Value& value) {
  const char* code = "ERR_NATIVE_CONFIG";
  Napi::Object o = asObject(value, code, "config");
  ModelConfig c;
  std::string family = string(o, "family", code);
  if (family == "llama") c.family = Family::Llama;
  else if (family == "gpt2") c.family = Family::Gpt2;
  else fail(code, "unknown model family '" + family + "'");
  c.vocabSize = integer(o, "vocabSize", code);
  c.hiddenSize = integer(o, "hiddenSize", code);
  c.numLayers = integer(o, "numLayers", code);
  c.numHeads = integer(o, "numHeads", code);
  c.numKvHeads = integer(o, "numKvHeads", code);
  c.headDim = integer(o, "headDim", code);
  c.intermediateSize = integer(o, "intermediateSize", code);
  c.contextLength = integer(o, "contextLength", code);
  c.normEps = number(o, "normEps", code);
  c.ropeTheta = number(o, "ropeTheta", code);
  c.ropeNeox = boolean(o, "ropeNeox", code);
  c.tieEmbeddings = boolean(o, "tieEmbeddings", code);
  c.qkvBias = boolean(o, "qkvBias", code);
  parseFeatures(o, c);
  validateConfig(c);
  return c;
}

ExecutorOptions parseOptions(const Napi::Value& value) {
  const char* code = "ERR_NATIVE_CONFIG";
  Napi::Object o = asObject(value, code, "options");
  ExecutorOptions opt;
  std::string dtype = string(o, "weightDtype", code);
  if (dtype == "f32") opt.weightDtype = WeightDtype::F32;
  else if (dtype == "bf16") opt.weightDtype = WeightDtype::Bf16;
  else fail(code, "weightDtype must be 'f32' or 'bf16', got '" + dtype + "'");
  opt.numPages = integer(o, "numPages", code);
  opt.pageSize = integer(o, "pageSize", code);
  opt.numThreads = integer(o, "numThreads", code);
  opt.maxBatchTokens = integer(o, "maxBatchTokens", code);
  opt.maxSeqs = integer(o, "maxSeqs", code);
  if (o.Has("kernel") && !o.Get("kernel").IsUndefined()) {
    std::string kernel = string(o, "kernel", code);
    if (kernel == "auto") opt.kernel = KernelChoice::Auto;
    else if (kernel == "portable") opt.kernel = KernelChoice::Portable;
    else if (kernel == "avx2") opt.kernel = KernelChoice::Avx2;
    else if (kernel == "avx512") opt.kernel = KernelChoice::Avx512;
    else fail(code, "kernel must be 'auto', 'portable', 'avx2' or 'avx512', got '" + kernel + "'");
  }
  if (o.Has("kvDtype") && !o.Get("kvDtype").IsUndefined()) {
    std::string kvDtype = string(o, "kvDtype", code);
    if (kvDtype == "f32") opt.kvDtype = KvDtype::F32;
    else if (kvDtype == "f16") opt.kvDtype = KvDtype::F16;
    else if (kvDtype == "bf16") opt.kvDtype = KvDtype::Bf16;
    else if (kvDtype == "q8_0") opt.kvDtype = KvDtype::Q8_0;
    else fail(code, "kvDtype must be 'f32', 'f16', 'bf16' or 'q8_0', got '" + kvDtype + "'");
  }
  if (o.Has("decodeAhead") && !o.Get("decodeAhead").IsUndefined()) opt.decodeAhead = boolean(o, "decodeAhead", code);
  return opt;
}

static bool parseQuantDtype(const std::string& dtype, TensorDtype& out) {
  static const char* names[kNumQuantTypes] = {"q8_0", "q4_0", "q4_k", "q5_k", "q6_k"};
  for (int i = 0; i < kNumQuantTypes; ++i) {
    if (dtype == names[i]) {
      out = TensorDtype(int(TensorDtype::Q8_0) + i);
      return true;
    }
  }
  return false;
}

// A quantized tensor: a Uint8Array of whole blocks, rows along the last dimension.
static TensorView quantView(TensorView view, const Napi::Value& data, const std::string& name, double numel) {
  const char* code = "ERR_NATIVE_TENSOR";
  const QuantTraits& t = quantTraits(quantTypeOf(view.dtype));
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    fail(code, "tensor " + name + " data must be a Uint8Array of " + t.name + " blocks");
  if (view.shape.empty() || view.shape.back() % t.blockElems != 0)
    fail(code, "tensor " + name + ": rows of " + t.name + " must be a multiple of " + std::to_string(t.blockElems) + " wide");
  Napi::TypedArray array = data.As<Napi::TypedArray>();
  const double bytes = numel / t.blockElems * t.blockBytes;
  if (double(array.ByteLength()) != bytes)
    fail(code, "tensor " + name + " has " + std::to_string(array.ByteLength()) + " bytes, its shape needs " +
                   std::to_string(int64_t(bytes)) + " of " + t.name);
  view.numel = size_t(numel);
  view.data = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  return view;
}

static TensorView parseTensor(const Napi::Object& tensors, const std::string& name) {
  const char* code = "ERR_NATIVE_TENSOR";
  Napi::Value v = tensors.Get(name);
  if (v.IsUndefined()) fail(code, "missing tensor " + name);
  Napi::Object t = asObject(v, code, "tensor " + name);
  TensorView view;
  std::string dtype = string(t, "dtype", code);
  if (dtype == "f32") view.dtype = TensorDtype::F32;
  else if (dtype == "f16") view.dtype = TensorDtype::F16;
  else if (dtype == "bf16") view.dtype = TensorDtype::Bf16;
  else if (!parseQuantDtype(dtype, view.dtype)) fail(code, "tensor " + name + " has unknown dtype '" + dtype + "'");
  Napi::Value shape = t.Get("shape");
  if (!shape.IsArray()) fail(code, "tensor " + name + " shape must be an array");
  Napi::Array dims = shape.As<Napi::Array>();
  double numel = 1;
  for (uint32_t i = 0; i < dims.Length(); ++i) {
    Napi::Value d = dims.Get(i);
    double dim = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
    if (!(dim >= 0 && std::floor(dim) == dim && dim < 1e12)) fail(code, "tensor " + name + " has a bad shape");
    view.shape.push_back(int64_t(dim));
    numel *= dim;
  }
  Napi::Value data = t.Get("data");
  if (isQuantized(view.dtype)) return quantView(view, data, name, numel);
  napi_typedarray_type want = view.dtype == TensorDtype::F32 ? napi_float32_array : napi_uint16_array;
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != want)
    fail(code, "tensor " + name + " data must be a " + (view.dtype == TensorDtype::F32 ? "Float32Array" : "Uint16Array"));
  Napi::TypedArray array = data.As<Napi::TypedArray>();
  if (double(array.ElementLength()) != numel)
    fail(code, "tensor " + name + " has " + std::to_string(array.ElementLength()) + " elements, its shape needs " +
                   std::to_string(int64_t(numel)));
  view.numel = array.ElementLength();
  view.data = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  return view;
}

TensorViews parseTensors(const Napi::Value& value, const ModelConfig& config) {
  Napi::Object tensors = asObject(value, "ERR_NATIVE_TENSOR", "tensors");
  TensorViews views;
  for (const std::string& name : requiredTensorNames(config)) views[name] = parseTensor(tensors, name);
  return views;
}

}  // namespace nano
