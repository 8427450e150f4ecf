// Reading JS values (config, options, tensors, step input) into the plain C++
// structs. Every type mistake becomes a CodedError with the right code.
#pragma once
#include <napi.h>

#include <array>

#include "config.h"
#include "step_batch.h"
#include "tensor_view.h"

namespace nano {

ModelConfig parseConfig(const Napi::Value& value);
// The optional Hugging Face features of a config object (js_parse_features.cpp).
void parseFeatures(const Napi::Object& config, ModelConfig& c);
ExecutorOptions parseOptions(const Napi::Value& value);
// Views into the JS typed arrays of the tensors the config needs (valid during the call).
TensorViews parseTensors(const Napi::Value& value, const ModelConfig& config);

// The step input's property names as JS strings, made once per executor: a step reads about
// 25 properties, and a key passed as a C string is made into a V8 string again on every read.
// They are kept in one JS array (Node-API 8 references only objects), read once per step.
class StepKeys {
 public:
  enum Key {
    Tokens, Positions, SeqStart, PageTable, PageStart, IsSampled, Temperature, TopK, TopP, MinP, Seed,
    PresencePenalty, FrequencyPenalty, RepetitionPenalty, HistoryTokens, HistoryStart, HistoryPromptLen,
    NumTopLogprobs, MaskReady, TokenMask, MaskRow, BiasStart, BiasTokens, BiasValues, SeqIds, SeqIsNew,
    PageKeep, ReleaseSeqs, ReturnLogits, kNumKeys
  };
  explicit StepKeys(Napi::Env env);
  static const char* name(Key key);
  // The keys as values of the current handle scope (call once per step).
  std::array<napi_value, kNumKeys> values() const;

 private:
  Napi::Reference<Napi::Array> keys_;
};

// Copies the step's typed arrays into batch (reusing its capacity).
void parseStep(const Napi::Value& value, const StepKeys& keys, StepBatch& batch);

}  // namespace nano
