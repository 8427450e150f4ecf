// The model shape and the executor options, as plain structs (mirrors src/models/config.ts
// and NativeExecutorOptions in src/native/binding.ts).
#pragma once
#include <cstdint>

namespace nano {

enum class Family { Llama, Gpt2 };
enum class WeightDtype { F32, Bf16 };
enum class KernelChoice { Auto, Portable, Avx2, Avx512 };
enum class KvDtype { F32, F16, Bf16 };

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
};

// Throw CodedError("ERR_NATIVE_CONFIG") on a shape or option the executor cannot run.
void validateConfig(const ModelConfig& config);
void validateOptions(const ExecutorOptions& options, const ModelConfig& config);

}  // namespace nano
