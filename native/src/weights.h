// The model's weights in the executor's own storage: matmul weights packed
// (f32 or bf16), embeddings, norms and biases as f32. q/k/v are fused into one
// matrix, and so are gate/up, so each costs one GEMM pass over the activations.
#pragma once
#include <string>
#include <memory>
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
  AlignedVec<float> tokenEmbedding;     // (vocab, hidden), empty when tokenQuant is set
  std::shared_ptr<const QuantMatrix> tokenQuant;  // (vocab, hidden) kept quantized: rows dequantized per lookup
  AlignedVec<float> positionEmbedding;  // (context, hidden)  gpt2 only
  std::vector<LayerWeights> layers;
  AlignedVec<float> outputNorm, outputNormBias;  // (hidden)
  PackedMatrix output;                           // (vocab, hidden), a copy of token_embd when tied

  const char* quantKernel = nullptr;  // name of the quantized kernel, when some matrix is quantized

  size_t bytes() const;
  bool hasQuant() const { return quantKernel != nullptr; }
  int maxQuantK() const;  // widest input of a quantized matrix (0 when none)
};

// Names of every tensor the config needs, in the canonical (GGUF-like) naming.
std::vector<std::string> requiredTensorNames(const ModelConfig& config);

// Checks shapes (ERR_NATIVE_TENSOR) and converts into packed storage; bf16Pairs packs
// bf16 matrices in the pair layout of the AVX512-BF16 kernel. A matrix whose tensors are all
// quantized stays quantized (quantKernel runs it); one mixing float and quantized parts is
// dequantized and packed as `dtype`.
Weights loadWeights(const ModelConfig& config, WeightDtype dtype, const TensorViews& tensors, bool bf16Pairs,
                    const QuantKernel& quantKernel);

}  // namespace nano
