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
    else fail(code, "kvDtype must be 'f32', 'f16' or 'bf16', got '" + kvDtype + "'");
  }
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

namespace {

const char* const kStepKeyNames[StepKeys::kNumKeys] = {
    "tokens", "positions", "seqStart", "pageTable", "pageStart", "isSampled", "temperature", "topK", "topP", "minP", "seed",
    "presencePenalty", "frequencyPenalty", "repetitionPenalty", "historyTokens", "historyStart", "historyPromptLen",
    "numTopLogprobs", "maskReady", "tokenMask", "maskRow", "biasStart", "biasTokens", "biasValues", "seqIds", "seqIsNew",
    "pageKeep", "releaseSeqs", "returnLogits"};

// One step input's reads: the keys made once, each typed array read with one napi_get_typedarray_info.
struct StepReader {
  const Napi::Object& o;
  std::array<napi_value, StepKeys::kNumKeys> keys;

  Napi::Value get(StepKeys::Key key) const { return o.Get(keys[key]); }
  bool isUndefined(StepKeys::Key key) const { return get(key).IsUndefined(); }

  // The typed array under `key` if it has `type`, else fails with ERR_NATIVE_SHAPE.
  template <class T>
  const T* array(StepKeys::Key key, napi_typedarray_type type, const char* typeName, size_t& length) const {
    return array<T>(get(key), key, type, typeName, length);
  }
  template <class T>
  const T* array(const Napi::Value& v, StepKeys::Key key, napi_typedarray_type type, const char* typeName, size_t& length) const {
    const T* data = tryArray<T>(v, type, length);
    if (!data) fail("ERR_NATIVE_SHAPE", std::string("step input ") + StepKeys::name(key) + " must be a " + typeName);
    return data;
  }
  // nullptr when v is not a typed array of `type` (an empty array's data is never nullptr here).
  template <class T>
  static const T* tryArray(const Napi::Value& v, napi_typedarray_type type, size_t& length) {
    static const T kEmpty{};
    bool isTyped = false;
    napi_typedarray_type actual = napi_int8_array;
    void* data = nullptr;
    length = 0;
    if (napi_is_typedarray(v.Env(), v, &isTyped) != napi_ok || !isTyped ||
        napi_get_typedarray_info(v.Env(), v, &actual, &length, &data, nullptr, nullptr) != napi_ok || actual != type)
      return nullptr;
    return length == 0 || data == nullptr ? &kEmpty : static_cast<const T*>(data);
  }

  template <class T>
  void copy(StepKeys::Key key, napi_typedarray_type type, const char* typeName, std::vector<T>& out) const {
    size_t length = 0;
    const T* data = array<T>(key, type, typeName, length);
    out.assign(data, data + length);
  }
};

// Optional: a step without biasStart biases no sequence.
void parseLogitBias(const StepReader& r, StepBatch& b) {
  if (r.isUndefined(StepKeys::BiasStart)) {
    b.biasStart.assign(b.seqStart.size(), 0);
    b.biasTokens.clear();
    b.biasValues.clear();
    return;
  }
  r.copy(StepKeys::BiasStart, napi_int32_array, "Int32Array", b.biasStart);
  r.copy(StepKeys::BiasTokens, napi_int32_array, "Int32Array", b.biasTokens);
  r.copy(StepKeys::BiasValues, napi_float32_array, "Float32Array", b.biasValues);
}

// Optional: a step without maskRow constrains no sequence; with maskReady, tokenMask is read
// later, in place (the masks are still being computed), so only its shape is known now.
void parseTokenMasks(const StepReader& r, StepBatch& b) {
  b.deferredMask = nullptr;
  b.deferredMaskLength = 0;
  b.maskReady = nullptr;
  Napi::Value ready = r.get(StepKeys::MaskReady);
  if (!ready.IsUndefined()) {
    size_t readyLength = 0;
    const int32_t* readyData = StepReader::tryArray<int32_t>(ready, napi_int32_array, readyLength);
    if (!readyData || readyLength != 1) fail("ERR_NATIVE_SHAPE", "step input maskReady must be an Int32Array of length 1");
    size_t words = 0;
    const uint32_t* mask = r.array<uint32_t>(StepKeys::TokenMask, napi_uint32_array, "Uint32Array", words);
    b.deferredMask = mask;
    b.deferredMaskLength = words;
    b.maskReady = readyData;
    b.tokenMask.clear();
    r.copy(StepKeys::MaskRow, napi_int32_array, "Int32Array", b.maskRow);
    return;
  }
  if (r.isUndefined(StepKeys::MaskRow)) {
    b.tokenMask.clear();
    b.maskRow.assign(b.seqStart.empty() ? 0 : b.seqStart.size() - 1, -1);
    return;
  }
  r.copy(StepKeys::TokenMask, napi_uint32_array, "Uint32Array", b.tokenMask);
  r.copy(StepKeys::MaskRow, napi_int32_array, "Int32Array", b.maskRow);
}

// Optional: kept sequences (seq_state.h); without seqIds the step is stateless.
void parseSeqDeltas(const StepReader& r, StepBatch& b) {
  if (r.isUndefined(StepKeys::SeqIds)) {
    for (auto* v : {&b.seqIds, &b.pageKeep, &b.releaseSeqs}) v->clear();
    b.seqIsNew.clear();
    return;
  }
  r.copy(StepKeys::SeqIds, napi_int32_array, "Int32Array", b.seqIds);
  r.copy(StepKeys::SeqIsNew, napi_uint8_array, "Uint8Array", b.seqIsNew);
  r.copy(StepKeys::PageKeep, napi_int32_array, "Int32Array", b.pageKeep);
  if (r.isUndefined(StepKeys::ReleaseSeqs)) b.releaseSeqs.clear();
  else r.copy(StepKeys::ReleaseSeqs, napi_int32_array, "Int32Array", b.releaseSeqs);
}

}  // namespace

StepKeys::StepKeys(Napi::Env env) {
  Napi::Array keys = Napi::Array::New(env, kNumKeys);
  for (uint32_t k = 0; k < kNumKeys; ++k) keys.Set(k, Napi::String::New(env, kStepKeyNames[k]));
  keys_ = Napi::Persistent(keys);
}

std::array<napi_value, StepKeys::kNumKeys> StepKeys::values() const {
  Napi::Array keys = keys_.Value();
  std::array<napi_value, kNumKeys> out;
  for (uint32_t k = 0; k < kNumKeys; ++k) out[k] = keys.Get(k);
  return out;
}

const char* StepKeys::name(Key key) { return kStepKeyNames[key]; }

void parseStep(const Napi::Value& value, const StepKeys& keys, StepBatch& b) {
  Napi::Object o = asObject(value, "ERR_NATIVE_SHAPE", "step input");
  const StepReader r{o, keys.values()};
  using K = StepKeys;
  r.copy(K::Tokens, napi_int32_array, "Int32Array", b.tokens);
  r.copy(K::Positions, napi_int32_array, "Int32Array", b.positions);
  r.copy(K::SeqStart, napi_int32_array, "Int32Array", b.seqStart);
  r.copy(K::PageTable, napi_int32_array, "Int32Array", b.pageTable);
  r.copy(K::PageStart, napi_int32_array, "Int32Array", b.pageStart);
  r.copy(K::IsSampled, napi_uint8_array, "Uint8Array", b.isSampled);
  r.copy(K::Temperature, napi_float32_array, "Float32Array", b.temperature);
  r.copy(K::TopK, napi_int32_array, "Int32Array", b.topK);
  r.copy(K::TopP, napi_float32_array, "Float32Array", b.topP);
  r.copy(K::MinP, napi_float32_array, "Float32Array", b.minP);
  r.copy(K::Seed, napi_float64_array, "Float64Array", b.seed);
  r.copy(K::PresencePenalty, napi_float32_array, "Float32Array", b.presencePenalty);
  r.copy(K::FrequencyPenalty, napi_float32_array, "Float32Array", b.frequencyPenalty);
  r.copy(K::RepetitionPenalty, napi_float32_array, "Float32Array", b.repetitionPenalty);
  r.copy(K::HistoryTokens, napi_int32_array, "Int32Array", b.historyTokens);
  r.copy(K::HistoryStart, napi_int32_array, "Int32Array", b.historyStart);
  r.copy(K::HistoryPromptLen, napi_int32_array, "Int32Array", b.historyPromptLen);
  r.copy(K::NumTopLogprobs, napi_int32_array, "Int32Array", b.numTopLogprobs);
  parseTokenMasks(r, b);
  parseLogitBias(r, b);
  parseSeqDeltas(r, b);
  Napi::Value returnLogits = r.get(K::ReturnLogits);
  b.returnLogits = returnLogits.IsBoolean() && returnLogits.As<Napi::Boolean>().Value();
}

}  // namespace nano
