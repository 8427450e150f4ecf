// Decode ahead: after a step of one sequence that decoded one sampled token with nothing that
// depends on the caller between steps (no token mask, no logit bias, no penalties), the step
// runner starts the step that follows when the caller feeds that token back at the next
// position with the same pages and sampling, into a batch and result of its own, while the JS
// thread takes the result. When the caller's next step is exactly that step (isSameStep), its
// result is the one computed ahead; otherwise the step ahead is cancelled (between layers) and
// dropped, and the caller's step runs as usual. A dropped step ahead wrote K/V only into the
// sequence's own slot at the next position, a slot of its own page that nothing reads before a
// real step writes it (attention reads only positions a sequence has fed). The step ahead is
// the same computation on the same inputs, so its result has the same bits.
#pragma once
#include "config.h"
#include "step_batch.h"

namespace nano {

// Whether the step after `b` (with result `r`) can be computed ahead.
bool canDecodeAhead(const StepBatch& b, const StepResult& r, const ModelConfig& c, int pageSize);

// next = b with each sequence's sampled token fed at the next position (b's pages and sampling).
void nextDecodeStep(const StepBatch& b, const StepResult& r, StepBatch& next);

// a and b compute the same thing (every field the forward pass and the sampler read).
bool isSameStep(const StepBatch& a, const StepBatch& b);

}  // namespace nano
