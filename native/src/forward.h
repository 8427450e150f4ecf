// The transformer forward pass over paged KV for one batched step, llama2.c style:
// every buffer is allocated once, for maxBatchTokens tokens and maxSeqs sequences.
#pragma once
#include <atomic>
#include <memory>
#include <vector>

#include "aligned.h"
#include "attention.h"
#include "config.h"
#include "gemm.h"
#include "kv_cache.h"
#include "ops.h"
#include "rotary.h"
#include "sampling.h"
#include "step_batch.h"
#include "step_profile.h"
#include "thread_pool.h"
#include "weights.h"

namespace nano {

struct RunState {
  RunState(const ModelConfig& c, const ExecutorOptions& o, const GemmKernel& kernel, int maxQuantK);
  AlignedVec<float> x;       // (tok, hidden) residual stream
  AlignedVec<float> xb;      // (tok, hidden) normed input of a block
  AlignedVec<float> xb2;     // (tok, hidden) output of a block, before the residual add
  AlignedVec<float> qkv;     // (tok, qDim + 2 kvDim) q | k | v
  AlignedVec<float> att;     // (tok, qDim) attention output, heads side by side
  AlignedVec<float> hb;      // (tok, 2 ffn) llama: gate | up; gpt2: up
  AlignedVec<float> hb2;     // (tok, ffn) activated
  AttentionScratch attShape;
  AlignedVec<float> scores;  // (thread, attShape.floatsPerThread()) attention scores
  AlignedVec<float> last;    // (seq, hidden) final-normed last token of each sampled sequence
  AlignedVec<float> logits;  // (seq, vocab)
  AlignedVec<uint16_t> xPairs;  // (tok, pairStride) activations as bf16 pairs (AVX512-BF16 kernel), or
                                // quantized (quant_acts.h) for quantized matrices
  std::vector<int32_t> tokenSeq;    // (tok) sequence of each token
  std::vector<int32_t> sampledSeq;  // (seq) sequence of each sampled row
  std::vector<int32_t> sampledBefore;  // (seq + 1) sampled rows of the sequences before
  std::vector<int32_t> chunkStart;     // (chunk + 1) first sequence of each whole-forward chunk
  size_t pairStride;                   // xPairs floats per token row in whole-forward chunks
  std::vector<std::unique_ptr<SamplerScratch>> samplers;  // (thread)
};

class Model {
 public:
  Model(const ModelConfig& config, const ExecutorOptions& options, const GemmKernel& kernel, Weights weights);

  // Runs the batch (already validated) and fills result; false when *cancel turned true
  // before a layer (the result and this step's K/V writes are then partial: a step ahead).
  bool step(const StepBatch& batch, StepResult& result, const std::atomic<bool>* cancel = nullptr);

  // A step is split over the threads in one of two ways. By layers: each op of each layer
  // runs over the whole batch, split over the pool (a barrier per op). By sequences: the
  // WHOLE forward pass, sampling included, runs for groups of whole sequences, one group per
  // pool chunk (one barrier per step). Sequences are independent and every op is row-wise or
  // a per-row GEMM chain, so both give the same bits; by sequences is for models whose
  // weights sit in L2 and batches of many short runs (decode).

  const ModelConfig& config() const { return config_; }
  const char* kernelName() const { return gemm_.name; }
  const char* quantKernelName() const { return weights_.quantKernel; }  // nullptr when nothing is quantized
  size_t weightBytes() const { return weights_.bytes(); }
  size_t kvBytes() const { return kv_.bytes(); }
  int numThreads() const { return pool_.size(); }
  StepProfile& profile() { return profile_; }  // read and reset between steps only

 private:
  bool planSequenceChunks(const StepBatch& batch);
  void forwardSequences(const StepBatch& batch, int seqBegin, int seqEnd, int thread, StepResult& result);
  void prepareSampling(const StepBatch& batch, int numSampled, StepResult& result);
  void sampleRows(const StepBatch& batch, int rowBegin, int rowEnd, int thread, StepResult& result);
  void embed(const StepBatch& batch);
  void attentionBlock(int layer, const StepBatch& batch);
  void ffnBlock(int layer, int numTokens);
  void residual(int numTokens, const AlignedVec<float>& postNorm, const AlignedVec<float>* nextNorm,
                const AlignedVec<float>* nextNormBias);
  void prepareQk(int layer, const StepBatch& batch, int begin, int end);
  void softcapLogits(int rowBegin, int rowEnd);
  void norm(float* out, const float* in, const AlignedVec<float>& w, const AlignedVec<float>& b, int rows);
  int gatherSampled(const StepBatch& batch);
  void sampleAll(const StepBatch& batch, int numSampled, StepResult& result);
  void linear(const float* x, int ldx, int rows, const PackedMatrix& w, const AlignedVec<float>& bias, float* y,
              int ldy);

  ModelConfig config_;
  ExecutorOptions options_;
  Weights weights_;
  KvCache kv_;
  ThreadPool pool_;
  GemmKernel gemm_;
  std::vector<Rotary> rotary_;  // llama only: one per rotary table (Gemma 3: local and global)
  bool sequenceSplitAllowed_;   // weights small enough (or NANO_SERVING_SPLIT=sequences)
  bool sequenceSplitForced_;
  uint64_t stepCount_ = 0;
  std::atomic<bool> masksFailed_{false};  // a deferred mask was abandoned: the step fails
  StepProfile profile_;
  RunState s_;
};

}  // namespace nano
