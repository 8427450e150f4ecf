// Reading JS values (config, options, tensors, step input) into the plain C++
// structs. Every type mistake becomes a CodedError with the right code.
#pragma once
#include <napi.h>

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
// Copies the step's typed arrays into batch (reusing its capacity).
void parseStep(const Napi::Value& value, StepBatch& batch);

}  // namespace nano
