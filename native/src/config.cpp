#include "config.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "errors.h"

namespace nano {

static void check(bool ok, const std::string& message) {
  if (!ok) fail("ERR_NATIVE_CONFIG", message);
}

static void checkRange(int value, int lo, int hi, const char* name) {
  check(value >= lo && value <= hi,
        std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " +
            std::to_string(hi) + "], got " + std::to_string(value));
}

void validateConfig(const ModelConfig& c) {
  checkRange(c.vocabSize, 1, 1 << 22, "vocabSize");
  checkRange(c.hiddenSize, 1, 1 << 16, "hiddenSize");
  checkRange(c.numLayers, 1, 1024, "numLayers");
  checkRange(c.numHeads, 1, 1024, "numHeads");
  checkRange(c.numKvHeads, 1, c.numHeads, "numKvHeads");
  check(c.numHeads % c.numKvHeads == 0, "numHeads must be a multiple of numKvHeads");
  checkRange(c.headDim, 1, 1024, "headDim");
  checkRange(c.intermediateSize, 1, 1 << 18, "intermediateSize");
  checkRange(c.contextLength, 1, 1 << 22, "contextLength");
  check(std::isfinite(c.normEps) && c.normEps > 0, "normEps must be finite and > 0");
  if (c.family == Family::Llama) {
    check(c.headDim % 2 == 0, "headDim must be even for rotary embeddings");
    check(std::isfinite(c.ropeTheta) && c.ropeTheta > 0, "ropeTheta must be finite and > 0");
  }
  validateFeatures(c);
}

void validateFeatures(const ModelConfig& c) {
  for (const RopeTable& r : c.ropes) {
    check(r.rotaryDim >= 2 && r.rotaryDim % 2 == 0 && r.rotaryDim <= c.headDim, "rope rotaryDim must be even, >= 2 and <= headDim");
    check(int(r.invFreq.size()) == r.rotaryDim / 2, "rope invFreq must have rotaryDim / 2 entries");
    check(r.longInvFreq.empty() || r.longInvFreq.size() == r.invFreq.size(), "rope longInvFreq must have rotaryDim / 2 entries");
    check(std::isfinite(r.attentionFactor) && r.attentionFactor > 0, "rope attentionFactor must be finite and > 0");
    check(r.originalContext >= 0, "rope originalContext must be >= 0");
    check(!r.isDynamic || (r.dynamicBase > 0 && r.dynamicFactor > 0 && r.originalContext > 0 && r.rotaryDim > 2),
          "dynamic rope needs base, factor and originalContext > 0");
    for (float f : r.invFreq) check(std::isfinite(f) && f > 0, "rope invFreq must be finite and > 0");
    for (float f : r.longInvFreq) check(std::isfinite(f) && f > 0, "rope longInvFreq must be finite and > 0");
  }
  check(c.layerRope.empty() || int(c.layerRope.size()) == c.numLayers, "layerRope must have numLayers entries");
  for (int r : c.layerRope) check(r >= 0 && r < int(std::max<size_t>(1, c.ropes.size())), "layerRope entry out of range");
  check(c.layerWindow.empty() || int(c.layerWindow.size()) == c.numLayers, "layerWindow must have numLayers entries");
  for (int w : c.layerWindow) check(w >= 0, "layerWindow entries must be >= 0");
  for (float v : {c.attnScale, c.attnSoftcap, c.finalSoftcap, c.embedScale})
    check(std::isfinite(v) && v >= 0, "attnScale, attnSoftcap, finalSoftcap and embedScale must be finite and >= 0");
  check(c.family == Family::Llama || (c.ropes.empty() && !c.qkNorm && !c.postNorms && c.ffnAct == Activation::Silu),
        "rotary tables, qkNorm, postNorms and ffnAct are llama-family features");
}

void validateOptions(const ExecutorOptions& o, const ModelConfig& c) {
  checkRange(o.numPages, 1, 1 << 24, "numPages");
  checkRange(o.pageSize, 1, 1 << 16, "pageSize");
  checkRange(o.numThreads, 1, 256, "numThreads");
  checkRange(o.maxBatchTokens, 1, 1 << 20, "maxBatchTokens");
  checkRange(o.maxSeqs, 1, 1 << 20, "maxSeqs");
  double kvBytes = 2.0 * c.numLayers * double(o.numPages) * o.pageSize * c.kvDim() * 4;
  check(kvBytes <= 256.0 * (1ull << 30), "KV pool too large (numPages * pageSize)");
  // q8_0 blocks are 32 values along head_dim, the last one 16 when head_dim is an odd multiple
  // of 16: every 16-lane vector the attention loads lies inside one block.
  check(o.kvDtype != KvDtype::Q8_0 || c.headDim % 16 == 0,
        "kvDtype 'q8_0' needs a head_dim that is a multiple of 16 (blocks of 32, the last one 16), got head_dim " +
            std::to_string(c.headDim));
  double scratch = double(o.maxBatchTokens) * (4.0 * c.hiddenSize + c.qDim() + 2.0 * c.kvDim() +
                                               3.0 * c.intermediateSize) * 4 +
                   double(o.maxSeqs) * c.vocabSize * 4;
  check(scratch <= 64.0 * (1ull << 30), "scratch too large (maxBatchTokens / maxSeqs)");
}

}  // namespace nano
