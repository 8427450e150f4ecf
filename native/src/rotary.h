// Rotary position embeddings: cos / sin tables per (position, pair), and the rotation of the
// q and k heads of a token. Two sources: a theta over the whole head (GGUF checkpoints; angles
// in double; half-split or adjacent pairs), or a Hugging Face table (RopeTable: inverse
// frequencies, a factor on cos / sin, partial rotary, LongRoPE's long table, dynamic NTK),
// computed in float32 as transformers does, with half-split pairs over the rotary dims.
#pragma once
#include "aligned.h"
#include "config.h"

namespace nano {

class Rotary {
 public:
  Rotary(int contextLength, int headDim, double theta, bool neox);
  Rotary(int contextLength, int headDim, const RopeTable& table);
  // Rotates numHeads heads of one token at position pos in place.        (num_heads, head_dim)
  // runLength: last position + 1 of the token's run of its sequence in this step. LongRoPE and
  // dynamic NTK switch tables on it, as transformers does on each forward call's longest position.
  void apply(float* heads, int numHeads, int pos, int runLength) const;

 private:
  void dynamicAngles(int pos, int runLength, float* c, float* s) const;

  int headDim_, rotaryDim_;
  bool neox_;
  RopeTable table_;
  AlignedVec<float> cos_, sin_;          // (context, rotary_dim / 2)
  AlignedVec<float> longCos_, longSin_;  // (context, rotary_dim / 2)   LongRoPE only
};

}  // namespace nano
