// Steps of Hugging Face architectures beside the forward pass (layer_extras.cpp).
#pragma once
#include "aligned.h"
#include "config.h"
#include "isa.h"

namespace nano {

// RMSNorm of numRows block-output rows in place (Gemma's post-attention / post-FFN norms); none if w is empty.
void postNormRows(Isa isa, const ModelConfig& c, float* rows, int numRows, const AlignedVec<float>& w);

}  // namespace nano
