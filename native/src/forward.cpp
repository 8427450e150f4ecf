// The model and its step: buffers sized once at load, then each step either split by layers
// (forward_layers.cpp) or by sequences (forward_sequences.cpp), and sampled (forward_sampling.cpp).
#include "forward.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "quant_acts.h"

namespace nano {

static int spinMicrosFromEnv() {
  const char* env = std::getenv("NANO_SERVING_SPIN_US");
  return env ? std::max(0, std::atoi(env)) : 200;
}

// NANO_SERVING_SPLIT=layers|sequences forces a split (tests, benches); unset: by the model.
static const char* splitFromEnv() {
  const char* env = std::getenv("NANO_SERVING_SPLIT");
  return env ? env : "";
}

// Weights up to this size (tiny models) make the split by sequences worth it: each chunk
// re-reads all of them, from L2.
constexpr size_t kSequenceSplitMaxWeightBytes = size_t(2) << 20;

RunState::RunState(const ModelConfig& c, const ExecutorOptions& o, const GemmKernel& kernel, int maxQuantK)
    : attShape(c, o.pageSize, kernel.isa, o.maxBatchTokens) {
  const bool needsPairs = kernel.usesPairs();
  size_t tok = o.maxBatchTokens, seqs = o.maxSeqs;
  x.resize(tok * c.hiddenSize);
  xb.resize(tok * c.hiddenSize);
  xb2.resize(tok * c.hiddenSize);
  qkv.resize(tok * (c.qDim() + 2 * c.kvDim()));
  att.resize(tok * c.qDim());
  hb.resize(tok * 2 * c.intermediateSize);
  hb2.resize(tok * c.intermediateSize);
  scores.resize(size_t(o.numThreads) * attShape.floatsPerThread());
  last.resize(seqs * c.hiddenSize);
  logits.resize(seqs * c.vocabSize);
  const int maxK = std::max({c.hiddenSize, c.qDim(), c.intermediateSize});
  pairStride = size_t(maxK) + 1;
  if (maxQuantK > 0) pairStride = std::max(pairStride, (quantActRowBytes(maxQuantK) + 1) / 2);
  if (needsPairs || maxQuantK > 0) xPairs.resize(tok * pairStride);
  tokenSeq.resize(tok);
  sampledSeq.resize(seqs);
  sampledBefore.resize(seqs + 1);
  chunkStart.reserve(seqs + 1);
  for (int t = 0; t < o.numThreads; ++t) samplers.push_back(std::make_unique<SamplerScratch>(c.vocabSize));
}

Model::Model(const ModelConfig& config, const ExecutorOptions& options, const GemmKernel& kernel, Weights weights)
    : config_(config),
      options_(options),
      weights_(std::move(weights)),
      kv_(config.numLayers, options.numPages, options.pageSize, config.numKvHeads, config.headDim, options.kvDtype),
      pool_(options.numThreads, spinMicrosFromEnv()),
      gemm_(kernel),
      s_(config, options, kernel, weights_.maxQuantK()) {
  if (config.family == Family::Llama && config.ropes.empty())
    rotary_.emplace_back(config.contextLength, config.headDim, config.ropeTheta, config.ropeNeox);
  if (config.family == Family::Llama)
    for (const RopeTable& table : config.ropes) rotary_.emplace_back(config.contextLength, config.headDim, table);
  const std::string split = splitFromEnv();
  sequenceSplitForced_ = split == "sequences";
  sequenceSplitAllowed_ = split != "layers" && (sequenceSplitForced_ || weights_.bytes() <= kSequenceSplitMaxWeightBytes);
  pool_.setProfile(&profile_);
}

bool Model::step(const StepBatch& batch, StepResult& result, const std::atomic<bool>* cancel) {
  const int64_t stepStart = profile_.isOn ? StepProfile::nowNs() : 0;
  const int numSeqs = batch.numSeqs();
  s_.sampledBefore[0] = 0;
  for (int s = 0; s < numSeqs; ++s) s_.sampledBefore[s + 1] = s_.sampledBefore[s] + (batch.isSampled[s] ? 1 : 0);
  const int numSampled = s_.sampledBefore[numSeqs];
  {
    ProfileScope scope(profile_, StepRegion::Sampling);
    prepareSampling(batch, numSampled, result);
  }

  if (planSequenceChunks(batch)) {
    // Every other step walks the chunks backwards: a decode step reads all the batch's KV
    // (tens of MB, more than the L3 holds), and starting where the previous step ended
    // finds the most recently read part still in cache. The order never changes a result.
    const int numChunks = int(s_.chunkStart.size()) - 1;
    const bool backwards = (stepCount_ & 1) != 0;
    pool_.forEachChunk(numChunks, [&](int c, int t) {
      const int chunk = backwards ? numChunks - 1 - c : c;
      forwardSequences(batch, s_.chunkStart[chunk], s_.chunkStart[chunk + 1], t, result);
    });
  } else {
    {
      ProfileScope scope(profile_, StepRegion::RowOps);
      embed(batch);
    }
    for (int l = 0; l < config_.numLayers; ++l) {
      if (cancel && cancel->load(std::memory_order_relaxed)) return false;
      attentionBlock(l, batch);
      ffnBlock(l, batch.numTokens());
    }
    {
      ProfileScope scope(profile_, StepRegion::RowOps);
      gatherSampled(batch);
    }
    {
      ProfileScope scope(profile_, StepRegion::LmHead);
      linear(s_.last.data(), config_.hiddenSize, numSampled, weights_.output, {}, s_.logits.data(), config_.vocabSize);
    }
    ProfileScope scope(profile_, StepRegion::Sampling);
    softcapLogits(0, numSampled);
    pool_.parallelFor(numSampled, 1, [&](int begin, int end, int t) { sampleRows(batch, begin, end, t, result); });
  }
  ++stepCount_;
  if (profile_.isOn) {
    profile_.stepNs += double(StepProfile::nowNs() - stepStart);
    ++profile_.numSteps;
  }
  if (masksFailed_.exchange(false)) throw std::runtime_error("the step's token masks were abandoned or never written");
  const size_t logitFloats = size_t(numSampled) * config_.vocabSize;
  if (batch.returnLogits) result.logits.assign(s_.logits.begin(), s_.logits.begin() + logitFloats);
  else result.logits.clear();
  return true;
}

}  // namespace nano
