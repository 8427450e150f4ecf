#include "forward.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <cstdlib>
#include <cstring>

#include "layer_extras.h"
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
    : attShape(c, o.pageSize, kernel.isa) {
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
}

void Model::linear(const float* x, int ldx, int rows, const PackedMatrix& w, const AlignedVec<float>& bias,
                   float* y, int ldy) {
  gemm(pool_, gemm_, x, ldx, rows, w, bias.empty() ? nullptr : bias.data(), y, ldy, s_.xPairs.data());
}

static void normRow(const ModelConfig& c, float* out, const float* in, const AlignedVec<float>& w,
                    const AlignedVec<float>& b) {
  if (b.empty()) rmsNorm(out, in, w.data(), c.hiddenSize, float(c.normEps));
  else layerNorm(out, in, w.data(), b.data(), c.hiddenSize, float(c.normEps));
}

void Model::norm(float* out, const float* in, const AlignedVec<float>& w, const AlignedVec<float>& b, int rows) {
  const int n = config_.hiddenSize;
  pool_.parallelFor(rows, 16, [&](int begin, int end, int) {
    for (int r = begin; r < end; ++r) normRow(config_, out + size_t(r) * n, in + size_t(r) * n, w, b);
  });
}

// x = token embedding (+ learned position embedding on gpt2), for tokens [begin, end).
static void embedRows(const ModelConfig& c, const Weights& w, const StepBatch& batch, float* x, int begin, int end) {
  const int n = c.hiddenSize;
  for (int i = begin; i < end; ++i) {
    float* row = x + size_t(i) * n;
    if (w.tokenQuant) {
      const QuantMatrix& e = *w.tokenQuant;
      const int token = batch.tokens[i];
      dequantizeRow(e.partOfRow(token).type, e.row(e.partOfRow(token), token), n, row);
    } else {
      std::memcpy(row, w.tokenEmbedding.data() + size_t(batch.tokens[i]) * n, n * sizeof(float));
    }
    if (c.embedScale > 0)
      for (int j = 0; j < n; ++j) row[j] *= c.embedScale;
    if (c.family == Family::Gpt2) addInPlace(row, w.positionEmbedding.data() + size_t(batch.positions[i]) * n, n);
  }
}

void Model::embed(const StepBatch& batch) {
  embedRows(config_, weights_, batch, s_.x.data(), 0, batch.numTokens());
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
  prepareQk(l, batch, 0, numTokens);
  TokenPages where{batch.positions.data(), s_.tokenSeq.data(), batch.pageTable.data(), batch.pageStart.data()};
  writeKv(kv_, l, config_, s_.qkv.data(), 0, numTokens, where);
  attention(pool_, kv_, l, config_, s_.attShape, s_.qkv.data(), numTokens, where, s_.scores.data(), s_.att.data());
  linear(s_.att.data(), config_.qDim(), numTokens, w.attnOut, w.attnOutBias, s_.xb2.data(), n);
  postNormRows(config_, s_.xb2.data(), numTokens, w.attnPostNorm);
  addInPlace(s_.x.data(), s_.xb2.data(), numTokens * n);
}

static void activateRows(const ModelConfig& c, const float* hb, float* hb2, int begin, int end) {
  const int ffn = c.intermediateSize;
  const bool llama = c.family == Family::Llama;
  const int width = llama ? 2 * ffn : ffn;
  for (int i = begin; i < end; ++i) {
    const float* row = hb + size_t(i) * width;
    float* out = hb2 + size_t(i) * ffn;
    if (!llama) {
      geluTanh(out, row, ffn);
    } else if (c.ffnAct == Activation::GeluTanh) {  // GeGLU: gelu(gate) * up
      geluTanh(out, row, ffn);
      for (int j = 0; j < ffn; ++j) out[j] *= row[ffn + j];
    } else {
      siluMul(out, row, row + ffn, ffn);
    }
  }
}

// x += Wdown · act(xb), xb = norm(x); llama: silu(Wgate xb) * (Wup xb); gpt2: gelu(Wup xb + b).
void Model::ffnBlock(int l, int numTokens) {
  const LayerWeights& w = weights_.layers[l];
  const int n = config_.hiddenSize, ffn = config_.intermediateSize;
  const int width = config_.family == Family::Llama ? 2 * ffn : ffn;
  norm(s_.xb.data(), s_.x.data(), w.ffnNorm, w.ffnNormBias, numTokens);
  linear(s_.xb.data(), n, numTokens, w.gateUp, w.gateUpBias, s_.hb.data(), width);
  pool_.parallelFor(numTokens, 8, [&](int begin, int end, int) { activateRows(config_, s_.hb.data(), s_.hb2.data(), begin, end); });
  linear(s_.hb2.data(), ffn, numTokens, w.down, w.downBias, s_.xb2.data(), n);
  postNormRows(config_, s_.xb2.data(), numTokens, w.ffnPostNorm);
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

// Sizes the outputs and maps sampled rows to sequences (before any row is sampled).
void Model::prepareSampling(const StepBatch& batch, int numSampled, StepResult& r) {
  r.topK = 0;
  for (int s = 0; s < batch.numSeqs(); ++s)
    if (batch.isSampled[s]) r.topK = std::max(r.topK, int(batch.numTopLogprobs[s]));
  r.tokens.resize(numSampled);
  r.logprobs.resize(numSampled);
  r.topIds.resize(size_t(numSampled) * r.topK);
  r.topLogprobs.resize(size_t(numSampled) * r.topK);
  for (int s = 0, row = 0; s < batch.numSeqs(); ++s)
    if (batch.isSampled[s]) s_.sampledSeq[row++] = s;
}

void Model::sampleRows(const StepBatch& batch, int rowBegin, int rowEnd, int thread, StepResult& r) {
  const int vocab = config_.vocabSize;
  SamplerScratch& scratch = *s_.samplers[thread];
  for (int row = rowBegin; row < rowEnd; ++row) {
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
    p.bias = {batch.biasTokens.data() + batch.biasStart[s], batch.biasValues.data() + batch.biasStart[s],
              batch.biasStart[s + 1] - batch.biasStart[s]};
    if (batch.maskRow[s] >= 0) {
      if (batch.maskReady && !waitForMasks(batch.maskReady)) masksFailed_.store(true, std::memory_order_relaxed);
      else p.allowed = batch.maskData() + size_t(batch.maskRow[s]) * ((vocab + 31) / 32);
    }
    SampleOut out{&r.tokens[row], &r.logprobs[row], r.topIds.data() + size_t(row) * r.topK,
                  r.topLogprobs.data() + size_t(row) * r.topK, r.topK};
    sampleRow(s_.logits.data() + size_t(row) * vocab, vocab, p, batch.penalties[s], scratch, out);
  }
}

// Groups whole sequences into chunks of about equal cost (a token's GEMMs, plus one unit per
// attended position); false when the step is better split by layers (few or lopsided chunks).
bool Model::planSequenceChunks(const StepBatch& batch) {
  if (!sequenceSplitAllowed_) return false;
  const int numSeqs = batch.numSeqs(), numThreads = pool_.size();
  constexpr double kTokenCost = 32;  // attended positions that cost about as much as a token's GEMMs
  auto cost = [&](int s) {
    int begin = batch.seqStart[s], end = batch.seqStart[s + 1];
    double first = batch.positions[begin] + 1, last = batch.positions[end - 1] + 1;
    return (end - begin) * kTokenCost + (first + last) * (end - begin) / 2;
  };
  s_.chunkStart.clear();
  s_.chunkStart.push_back(0);
  double total = 0;
  for (int s = 0; s < numSeqs; ++s) total += cost(s);
  // At least 16 chunks even on one thread: see the chunk order in step().
  const double target = total / std::max(16, 8 * numThreads);
  constexpr int kMinChunkTokens = 8;  // fewer rows make the GEMMs mostly weight traffic
  double inChunk = 0, largest = 0;
  int tokensInChunk = 0;
  for (int s = 0; s < numSeqs; ++s) {
    inChunk += cost(s);
    tokensInChunk += batch.seqStart[s + 1] - batch.seqStart[s];
    if ((inChunk >= target && tokensInChunk >= kMinChunkTokens) || s == numSeqs - 1) {
      s_.chunkStart.push_back(s + 1);
      largest = std::max(largest, inChunk);
      inChunk = 0;
      tokensInChunk = 0;
    }
  }
  const int numChunks = int(s_.chunkStart.size()) - 1;
  if (numThreads == 1 || sequenceSplitForced_) return true;
  return numChunks >= 2 * numThreads && largest * numThreads <= total;
}

// The whole forward pass, final norm, output head and sampling for sequences [seqBegin, seqEnd)
// on the calling thread. Every buffer is indexed by token (or sampled) row, so chunks of
// different sequences never touch the same memory; xPairs rows are pairStride apart here.
void Model::forwardSequences(const StepBatch& batch, int seqBegin, int seqEnd, int t, StepResult& result) {
  const ModelConfig& c = config_;
  const int i0 = batch.seqStart[seqBegin], i1 = batch.seqStart[seqEnd], m = i1 - i0;
  const int n = c.hiddenSize, ffn = c.intermediateSize, qDim = c.qDim();
  const int rowWidth = qDim + 2 * c.kvDim();
  const int width = c.family == Family::Llama ? 2 * ffn : ffn;
  uint16_t* pairs = s_.xPairs.empty() ? nullptr : s_.xPairs.data() + size_t(i0) * s_.pairStride;
  auto bias = [](const AlignedVec<float>& b) { return b.empty() ? nullptr : b.data(); };
  float* x = s_.x.data() + size_t(i0) * n;
  float* xb = s_.xb.data() + size_t(i0) * n;
  float* xb2 = s_.xb2.data() + size_t(i0) * n;
  float* qkv = s_.qkv.data() + size_t(i0) * rowWidth;
  float* att = s_.att.data() + size_t(i0) * qDim;
  float* hb = s_.hb.data() + size_t(i0) * width;
  float* hb2 = s_.hb2.data() + size_t(i0) * ffn;
  float* scores = s_.scores.data() + size_t(t) * s_.attShape.floatsPerThread();

  embedRows(c, weights_, batch, s_.x.data(), i0, i1);
  for (int s = seqBegin; s < seqEnd; ++s)
    for (int i = batch.seqStart[s]; i < batch.seqStart[s + 1]; ++i) s_.tokenSeq[i] = s;
  TokenPages where{batch.positions.data(), s_.tokenSeq.data(), batch.pageTable.data(), batch.pageStart.data()};

  for (int l = 0; l < c.numLayers; ++l) {
    const LayerWeights& w = weights_.layers[l];
    for (int r = 0; r < m; ++r) normRow(c, xb + size_t(r) * n, x + size_t(r) * n, w.attnNorm, w.attnNormBias);
    gemmSerial(gemm_, xb, n, m, w.qkv, bias(w.qkvBias), qkv, rowWidth, pairs);
    prepareQk(l, batch, i0, i1);
    writeKv(kv_, l, c, s_.qkv.data(), i0, i1, where);
    attendTokens(kv_, l, c, s_.attShape, s_.qkv.data(), i0, i1, where, scores, s_.att.data());
    gemmSerial(gemm_, att, qDim, m, w.attnOut, bias(w.attnOutBias), xb2, n, pairs);
    postNormRows(c, xb2, m, w.attnPostNorm);
    addInPlace(x, xb2, m * n);
    for (int r = 0; r < m; ++r) normRow(c, xb + size_t(r) * n, x + size_t(r) * n, w.ffnNorm, w.ffnNormBias);
    gemmSerial(gemm_, xb, n, m, w.gateUp, bias(w.gateUpBias), hb, width, pairs);
    activateRows(c, s_.hb.data(), s_.hb2.data(), i0, i1);
    gemmSerial(gemm_, hb2, ffn, m, w.down, bias(w.downBias), xb2, n, pairs);
    postNormRows(c, xb2, m, w.ffnPostNorm);
    addInPlace(x, xb2, m * n);
  }

  const int r0 = s_.sampledBefore[seqBegin], r1 = s_.sampledBefore[seqEnd];
  for (int s = seqBegin; s < seqEnd; ++s) {
    if (!batch.isSampled[s]) continue;
    normRow(c, s_.last.data() + size_t(s_.sampledBefore[s]) * n, s_.x.data() + size_t(batch.seqStart[s + 1] - 1) * n,
            weights_.outputNorm, weights_.outputNormBias);
  }
  gemmSerial(gemm_, s_.last.data() + size_t(r0) * n, n, r1 - r0, weights_.output, nullptr,
             s_.logits.data() + size_t(r0) * c.vocabSize, c.vocabSize, pairs);
  softcapLogits(r0, r1);
  sampleRows(batch, r0, r1, t, result);
}

void Model::step(const StepBatch& batch, StepResult& result) {
  const int numSeqs = batch.numSeqs();
  s_.sampledBefore[0] = 0;
  for (int s = 0; s < numSeqs; ++s) s_.sampledBefore[s + 1] = s_.sampledBefore[s] + (batch.isSampled[s] ? 1 : 0);
  const int numSampled = s_.sampledBefore[numSeqs];
  prepareSampling(batch, numSampled, result);

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
    embed(batch);
    for (int l = 0; l < config_.numLayers; ++l) {
      attentionBlock(l, batch);
      ffnBlock(l, batch.numTokens());
    }
    gatherSampled(batch);
    linear(s_.last.data(), config_.hiddenSize, numSampled, weights_.output, {}, s_.logits.data(), config_.vocabSize);
    softcapLogits(0, numSampled);
    pool_.parallelFor(numSampled, 1, [&](int begin, int end, int t) { sampleRows(batch, begin, end, t, result); });
  }
  ++stepCount_;
  if (masksFailed_.exchange(false)) throw std::runtime_error("the step's token masks were abandoned or never written");
  const size_t logitFloats = size_t(numSampled) * config_.vocabSize;
  if (batch.returnLogits) result.logits.assign(s_.logits.begin(), s_.logits.begin() + logitFloats);
  else result.logits.clear();
}

}  // namespace nano
