// The model's weights in the executor's own storage: matmul weights packed
// (f32 or bf16), embeddings, norms and biases as f32. q/k/v are fused into one
// matrix, and so are gate/up, so each costs one GEMM pass over the activations.
#pragma once
#include <string>
#include <vector>

#include "aligned.h"
#include "config.h"
#include "packed_matrix.h"
#include "tensor_view.h"

namespace nano {

struct LayerWeights {
  AlignedVec<float> attnNorm, attnNormBias;  // (hidden)           bias: gpt2 only
  PackedMatrix qkv;                          // (qDim + 2 kvDim, hidden)
  AlignedVec<float> qkvBias;                 // (qDim + 2 kvDim)   empty when none
  PackedMatrix attnOut;                      // (hidden, qDim)
  AlignedVec<float> attnOutBias;             // (hidden)           gpt2 only
  AlignedVec<float> ffnNorm, ffnNormBias;    // (hidden)
  PackedMatrix gateUp;                       // llama: (2 ffn, hidden) gate rows then up rows; gpt2: (ffn, hidden) up
  AlignedVec<float> gateUpBias;              // gpt2: (ffn)
  PackedMatrix down;                         // (hidden, ffn)
  AlignedVec<float> downBias;                // gpt2: (hidden)
  AlignedVec<float> qNorm, kNorm;            // (head_dim)         qkNorm only
  AlignedVec<float> attnPostNorm, ffnPostNorm;  // (hidden)        postNorms only
};

struct Weights {
  AlignedVec<float> tokenEmbedding;     // (vocab, hidden)
  AlignedVec<float> positionEmbedding;  // (context, hidden)  gpt2 only
  std::vector<LayerWeights> layers;
  AlignedVec<float> outputNorm, outputNormBias;  // (hidden)
  PackedMatrix output;                           // (vocab, hidden), a copy of token_embd when tied

  size_t bytes() const;
};

// Names of every tensor the config needs, in the canonical (GGUF-like) naming.
std::vector<std::string> requiredTensorNames(const ModelConfig& config);

// Checks shapes (ERR_NATIVE_TENSOR) and converts into packed storage; bf16Pairs packs
// bf16 matrices in the pair layout of the AVX512-BF16 kernel.
Weights loadWeights(const ModelConfig& config, WeightDtype dtype, const TensorViews& tensors, bool bf16Pairs);

}  // namespace nano
