// The step input: its property names made once per executor (StepKeys), and each step's typed
// arrays copied into the StepBatch (parseStep). Every type mistake is ERR_NATIVE_SHAPE.
#include <string>

#include "errors.h"
#include "js_parse.h"

namespace nano {

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
  if (!value.IsObject()) fail("ERR_NATIVE_SHAPE", "step input must be an object");
  Napi::Object o = value.As<Napi::Object>();
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
