// The model shape and the executor options, as plain structs (mirrors src/models/config.ts
// and NativeExecutorOptions in src/native/binding.ts).
#pragma once
#include <cstdint>
#include <vector>

namespace nano {

enum class Family { Llama, Gpt2 };
enum class WeightDtype { F32, Bf16 };
enum class KernelChoice { Auto, Portable, Avx2, Avx512 };
enum class KvDtype { F32, F16, Bf16, Q8_0 };
enum class Activation { Silu, GeluTanh };

// One rotary table of a Hugging Face checkpoint (mirrors RopeSpec in src/models/config.ts).
struct RopeTable {
  int rotaryDim = 0;                 // leading dims of a head that rotate, half-split pairs
  std::vector<float> invFreq;        // (rotaryDim / 2)
  std::vector<float> longInvFreq;    // (rotaryDim / 2) LongRoPE only: past originalContext
  double attentionFactor = 1;        // on cos and sin
  int originalContext = 0;           // LongRoPE / dynamic NTK: the short table's context
  bool isDynamic = false;            // dynamic NTK: recomputed from dynamicBase past originalContext
  double dynamicBase = 0, dynamicFactor = 0;
};

struct ModelConfig {
  Family family = Family::Llama;
  int vocabSize = 0;
  int hiddenSize = 0;
  int numLayers = 0;
  int numHeads = 0;
  int numKvHeads = 0;
  int headDim = 0;
  int intermediateSize = 0;
  int contextLength = 0;
  double normEps = 1e-5;
  double ropeTheta = 10000;
  bool ropeNeox = true;
  bool tieEmbeddings = false;
  bool qkvBias = false;
  // Features of Hugging Face architectures; the defaults are plain Llama / GPT-2 math.
  std::vector<RopeTable> ropes;   // empty: one table from ropeTheta (the GGUF path)
  std::vector<int> layerRope;     // (layer) index into ropes; empty: 0
  std::vector<int> layerWindow;   // (layer) sliding window in keys incl. the query's own; 0 / empty: full
  float attnScale = 0;            // 0: 1 / sqrt(headDim)
  float attnSoftcap = 0;          // 0: none
  float finalSoftcap = 0;         // 0: none
  float embedScale = 0;           // 0: none
  bool qkNorm = false;            // per-head RMSNorm of q and k before the rotation
  bool postNorms = false;         // RMSNorm of the attention / FFN outputs before the residual add
  Activation ffnAct = Activation::Silu;

  int windowOf(int layer) const { return layerWindow.empty() ? 0 : layerWindow[layer]; }
  int ropeOf(int layer) const { return layerRope.empty() ? 0 : layerRope[layer]; }
  int qDim() const { return numHeads * headDim; }
  int kvDim() const { return numKvHeads * headDim; }
  bool hasQkvBias() const { return family == Family::Gpt2 || qkvBias; }
  bool hasBiases() const { return family == Family::Gpt2; }
};

struct ExecutorOptions {
  WeightDtype weightDtype = WeightDtype::F32;
  int numPages = 0;
  int pageSize = 0;
  int numThreads = 1;
  int maxBatchTokens = 0;
  int maxSeqs = 0;
  KernelChoice kernel = KernelChoice::Auto;
  KvDtype kvDtype = KvDtype::F32;
  bool decodeAhead = false;  // decode_ahead.h: a single sampled decode sequence's next step starts before it is asked for
};

// Throw CodedError("ERR_NATIVE_CONFIG") on a shape or option the executor cannot run.
void validateConfig(const ModelConfig& config);
void validateFeatures(const ModelConfig& config);
void validateOptions(const ExecutorOptions& options, const ModelConfig& config);

}  // namespace nano
