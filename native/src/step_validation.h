// Checks a copied step against the model and the executor's capacity. Throws a
// CodedError (ERR_NATIVE_SHAPE / TOKEN / POSITION / PAGE / PARAM) on the first
// problem. The forward pass trusts a batch that passed: this is what keeps every
// read and write of the step in bounds.
#pragma once
#include "config.h"
#include "step_batch.h"

namespace nano {

void validateStep(const StepBatch& batch, const ModelConfig& config, const ExecutorOptions& options);

}  // namespace nano
