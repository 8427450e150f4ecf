// The row steps both splits of the forward pass share (forward_layers.cpp runs them over the
// whole batch, forward_sequences.cpp over one group of sequences): each reads and writes whole
// token rows only, so who runs a row never changes its bits. `isa`: the row ops' build (ops.h).
#pragma once
#include "aligned.h"
#include "config.h"
#include "isa.h"
#include "step_batch.h"
#include "weights.h"

namespace nano {

// out = the block's norm of in (hiddenSize floats): RMSNorm, or LayerNorm when there is a bias.
void normRow(Isa isa, const ModelConfig& c, float* out, const float* in, const AlignedVec<float>& w, const AlignedVec<float>& b);

// x rows [begin, end) = token embedding (+ learned position embedding on gpt2).
void embedRows(Isa isa, const ModelConfig& c, const Weights& w, const StepBatch& batch, float* x, int begin, int end);

// hb2 rows [begin, end) = the FFN's activation of hb (llama: act(gate) * up; gpt2: gelu(up)).
void activateRows(Isa isa, const ModelConfig& c, const float* hb, float* hb2, int begin, int end);

}  // namespace nano
