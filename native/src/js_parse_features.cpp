// The optional Hugging Face features of a JS ModelConfig (src/models/config.ts): rotary
// tables, per-layer windows, attention scale and soft-caps, embedding scale, q/k and post
// norms, the FFN activation. Absent keys keep plain Llama / GPT-2 math.
#include <cmath>
#include <string>

#include "errors.h"
#include "js_parse.h"

namespace nano {

namespace {

constexpr const char* kCode = "ERR_NATIVE_CONFIG";

bool has(const Napi::Object& o, const char* key) { return o.Has(key) && !o.Get(key).IsUndefined() && !o.Get(key).IsNull(); }

double numberAt(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) fail(kCode, std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

int intAt(const Napi::Object& o, const char* key) {
  double d = numberAt(o, key);
  if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 2147483647.0) fail(kCode, std::string(key) + " must be an integer");
  return int(d);
}

Napi::Array arrayAt(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) fail(kCode, std::string(key) + " must be an array");
  return v.As<Napi::Array>();
}

template <class T>
std::vector<T> numbers(const Napi::Object& o, const char* key) {
  Napi::Array a = arrayAt(o, key);
  std::vector<T> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value v = a.Get(i);
    if (!v.IsNumber()) fail(kCode, std::string(key) + " must hold numbers");
    out.push_back(T(v.As<Napi::Number>().DoubleValue()));
  }
  return out;
}

RopeTable parseRope(const Napi::Value& value) {
  if (!value.IsObject()) fail(kCode, "ropes entries must be objects");
  Napi::Object o = value.As<Napi::Object>();
  RopeTable r;
  r.rotaryDim = intAt(o, "rotaryDim");
  r.invFreq = numbers<float>(o, "invFreq");
  r.attentionFactor = numberAt(o, "attentionFactor");
  if (has(o, "originalContext")) r.originalContext = intAt(o, "originalContext");
  if (has(o, "longInvFreq")) r.longInvFreq = numbers<float>(o, "longInvFreq");
  if (has(o, "dynamic")) {
    Napi::Value d = o.Get("dynamic");
    if (!d.IsObject()) fail(kCode, "rope dynamic must be an object");
    r.isDynamic = true;
    r.dynamicBase = numberAt(d.As<Napi::Object>(), "base");
    r.dynamicFactor = numberAt(d.As<Napi::Object>(), "factor");
  }
  return r;
}

}  // namespace

void parseFeatures(const Napi::Object& o, ModelConfig& c) {
  if (has(o, "ropes")) {
    Napi::Array ropes = arrayAt(o, "ropes");
    for (uint32_t i = 0; i < ropes.Length(); ++i) c.ropes.push_back(parseRope(ropes.Get(i)));
  }
  if (has(o, "layerRope")) c.layerRope = numbers<int>(o, "layerRope");
  if (has(o, "layerWindow")) c.layerWindow = numbers<int>(o, "layerWindow");
  if (has(o, "attnScale")) c.attnScale = float(numberAt(o, "attnScale"));
  if (has(o, "attnSoftcap")) c.attnSoftcap = float(numberAt(o, "attnSoftcap"));
  if (has(o, "finalSoftcap")) c.finalSoftcap = float(numberAt(o, "finalSoftcap"));
  if (has(o, "embedScale")) c.embedScale = float(numberAt(o, "embedScale"));
  if (has(o, "qkNorm")) c.qkNorm = o.Get("qkNorm").ToBoolean().Value();
  if (has(o, "postNorms")) c.postNorms = o.Get("postNorms").ToBoolean().Value();
  if (has(o, "ffnAct")) {
    Napi::Value v = o.Get("ffnAct");
    std::string act = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
    if (act == "silu") c.ffnAct = Activation::Silu;
    else if (act == "gelu_tanh") c.ffnAct = Activation::GeluTanh;
    else fail(kCode, "ffnAct must be 'silu' or 'gelu_tanh'");
  }
}

}  // namespace nano
