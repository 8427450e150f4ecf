#include "forward.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace nano {

static int spinMicrosFromEnv() {
  const char* env = std::getenv("NANO_SERVING_SPIN_US");
  return env ? std::max(0, std::atoi(env)) : 200;
}

RunState::RunState(const ModelConfig& c, const ExecutorOptions& o, bool needsPairs) {
  size_t tok = o.maxBatchTokens, seqs = o.maxSeqs;
  x.resize(tok * c.hiddenSize);
  xb.resize(tok * c.hiddenSize);
  xb2.resize(tok * c.hiddenSize);
  qkv.resize(tok * (c.qDim() + 2 * c.kvDim()));
  att.resize(tok * c.qDim());
  hb.resize(tok * 2 * c.intermediateSize);
  hb2.resize(tok * c.intermediateSize);
  scoresStride = (size_t(c.contextLength) / o.pageSize + 1) * o.pageSize;
  scores.resize(size_t(o.numThreads) * scoresStride);
  last.resize(seqs * c.hiddenSize);
  logits.resize(seqs * c.vocabSize);
  const int maxK = std::max({c.hiddenSize, c.qDim(), c.intermediateSize});
  if (needsPairs) xPairs.resize(tok * (maxK + 1));
  tokenSeq.resize(tok);
  sampledSeq.resize(seqs);
  for (int t = 0; t < o.numThreads; ++t) samplers.push_back(std::make_unique<SamplerScratch>(c.vocabSize));
}

Model::Model(const ModelConfig& config, const ExecutorOptions& options, const GemmKernel& kernel, Weights weights)
    : config_(config),
      options_(options),
      weights_(std::move(weights)),
      kv_(config.numLayers, options.numPages, options.pageSize, config.numKvHeads, config.headDim),
      pool_(options.numThreads, spinMicrosFromEnv()),
      gemm_(kernel),
      s_(config, options, kernel.usesPairs()) {
  if (config.family == Family::Llama)
    rope_ = std::make_unique<Rope>(config.contextLength, config.headDim, config.ropeTheta, config.ropeNeox);
}

void Model::linear(const float* x, int ldx, int rows, const PackedMatrix& w, const AlignedVec<float>& bias,
                   float* y, int ldy) {
  gemm(pool_, gemm_, x, ldx, rows, w, bias.empty() ? nullptr : bias.data(), y, ldy, s_.xPairs.data());
}

void Model::norm(float* out, const float* in, const AlignedVec<float>& w, const AlignedVec<float>& b, int rows) {
  const int n = config_.hiddenSize;
  const float eps = float(config_.normEps);
  pool_.parallelFor(rows, 16, [&](int begin, int end, int) {
    for (int r = begin; r < end; ++r) {
      if (b.empty()) rmsNorm(out + size_t(r) * n, in + size_t(r) * n, w.data(), n, eps);
      else layerNorm(out + size_t(r) * n, in + size_t(r) * n, w.data(), b.data(), n, eps);
    }
  });
}

// x = token embedding (+ learned position embedding on gpt2).
void Model::embed(const StepBatch& batch) {
  const int n = config_.hiddenSize;
  for (int i = 0; i < batch.numTokens(); ++i) {
    float* row = s_.x.data() + size_t(i) * n;
    std::memcpy(row, weights_.tokenEmbedding.data() + size_t(batch.tokens[i]) * n, n * sizeof(float));
    if (config_.family == Family::Gpt2)
      addInPlace(row, weights_.positionEmbedding.data() + size_t(batch.positions[i]) * n, n);
  }
  for (int s = 0; s < batch.numSeqs(); ++s)
    for (int i = batch.seqStart[s]; i < batch.seqStart[s + 1]; ++i) s_.tokenSeq[i] = s;
}

// x += Wo · attention(rope(Wq xb), rope(Wk xb), Wv xb), with xb = norm(x).
void Model::attentionBlock(int l, const StepBatch& batch) {
  const LayerWeights& w = weights_.layers[l];
  const int numTokens = batch.numTokens(), n = config_.hiddenSize;
  const int rowWidth = config_.qDim() + 2 * config_.kvDim();
  norm(s_.xb.data(), s_.x.data(), w.attnNorm, w.attnNormBias, numTokens);
  linear(s_.xb.data(), n, numTokens, w.qkv, w.qkvBias, s_.qkv.data(), rowWidth);
  if (rope_) {
    for (int i = 0; i < numTokens; ++i) {
      float* row = s_.qkv.data() + size_t(i) * rowWidth;
      rope_->apply(row, config_.numHeads, batch.positions[i]);                   // q heads
      rope_->apply(row + config_.qDim(), config_.numKvHeads, batch.positions[i]);  // k heads
    }
  }
  TokenPages where{batch.positions.data(), s_.tokenSeq.data(), batch.pageTable.data(), batch.pageStart.data()};
  writeKv(kv_, l, config_, s_.qkv.data(), numTokens, where);
  attention(pool_, kv_, l, config_, s_.qkv.data(), numTokens, where, s_.scores.data(), s_.scoresStride, s_.att.data());
  linear(s_.att.data(), config_.qDim(), numTokens, w.attnOut, w.attnOutBias, s_.xb2.data(), n);
  addInPlace(s_.x.data(), s_.xb2.data(), numTokens * n);
}

// x += Wdown · act(xb), xb = norm(x); llama: silu(Wgate xb) * (Wup xb); gpt2: gelu(Wup xb + b).
void Model::ffnBlock(int l, int numTokens) {
  const LayerWeights& w = weights_.layers[l];
  const int n = config_.hiddenSize, ffn = config_.intermediateSize;
  const bool llama = config_.family == Family::Llama;
  const int width = llama ? 2 * ffn : ffn;
  norm(s_.xb.data(), s_.x.data(), w.ffnNorm, w.ffnNormBias, numTokens);
  linear(s_.xb.data(), n, numTokens, w.gateUp, w.gateUpBias, s_.hb.data(), width);
  pool_.parallelFor(numTokens, 8, [&](int begin, int end, int) {
    for (int i = begin; i < end; ++i) {
      const float* row = s_.hb.data() + size_t(i) * width;
      float* out = s_.hb2.data() + size_t(i) * ffn;
      if (llama) siluMul(out, row, row + ffn, ffn);
      else geluTanh(out, row, ffn);
    }
  });
  linear(s_.hb2.data(), ffn, numTokens, w.down, w.downBias, s_.xb2.data(), n);
  addInPlace(s_.x.data(), s_.xb2.data(), numTokens * n);
}

// last = final norm of the last token of each sampled sequence; returns how many.
int Model::gatherSampled(const StepBatch& batch) {
  const int n = config_.hiddenSize;
  int numSampled = 0;
  for (int s = 0; s < batch.numSeqs(); ++s) {
    if (!batch.isSampled[s]) continue;
    const float* row = s_.x.data() + size_t(batch.seqStart[s + 1] - 1) * n;
    std::memcpy(s_.xb.data() + size_t(numSampled++) * n, row, n * sizeof(float));
  }
  norm(s_.last.data(), s_.xb.data(), weights_.outputNorm, weights_.outputNormBias, numSampled);
  return numSampled;
}

void Model::sampleAll(const StepBatch& batch, int numSampled, StepResult& r) {
  const int vocab = config_.vocabSize;
  r.topK = 0;
  for (int s = 0; s < batch.numSeqs(); ++s)
    if (batch.isSampled[s]) r.topK = std::max(r.topK, int(batch.numTopLogprobs[s]));
  r.tokens.resize(numSampled);
  r.logprobs.resize(numSampled);
  r.topIds.resize(size_t(numSampled) * r.topK);
  r.topLogprobs.resize(size_t(numSampled) * r.topK);
  for (int s = 0, row = 0; s < batch.numSeqs(); ++s)
    if (batch.isSampled[s]) s_.sampledSeq[row++] = s;
  pool_.forEachChunk(numSampled, [&](int row, int t) {
    SamplerScratch& scratch = *s_.samplers[t];
    {
      int s = s_.sampledSeq[row];
      SamplingParams p;
      p.temperature = batch.temperature[s];
      p.topK = batch.topK[s];
      p.topP = batch.topP[s];
      p.minP = batch.minP[s];
      p.presencePenalty = batch.presencePenalty[s];
      p.frequencyPenalty = batch.frequencyPenalty[s];
      p.repetitionPenalty = batch.repetitionPenalty[s];
      p.seed = uint64_t(batch.seed[s]);
      p.position = uint64_t(batch.positions[batch.seqStart[s + 1] - 1]) + 1;
      p.numTopLogprobs = batch.numTopLogprobs[s];
      History h{batch.historyTokens.data() + batch.historyStart[s], batch.historyStart[s + 1] - batch.historyStart[s],
                batch.historyPromptLen[s]};
      SampleOut out{&r.tokens[row], &r.logprobs[row], r.topIds.data() + size_t(row) * r.topK,
                    r.topLogprobs.data() + size_t(row) * r.topK, r.topK};
      sampleRow(s_.logits.data() + size_t(row) * vocab, vocab, p, h, scratch, out);
    }
  });
  if (batch.returnLogits) r.logits.assign(s_.logits.begin(), s_.logits.begin() + size_t(numSampled) * vocab);
  else r.logits.clear();
}

void Model::step(const StepBatch& batch, StepResult& result) {
  embed(batch);
  for (int l = 0; l < config_.numLayers; ++l) {
    attentionBlock(l, batch);
    ffnBlock(l, batch.numTokens());
  }
  int numSampled = gatherSampled(batch);
  linear(s_.last.data(), config_.hiddenSize, numSampled, weights_.output, {}, s_.logits.data(), config_.vocabSize);
  sampleAll(batch, numSampled, result);
}

}  // namespace nano
