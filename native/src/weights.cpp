#include "weights.h"

#include "errors.h"

namespace nano {

namespace {

std::string blk(int layer, const char* name) { return "blk." + std::to_string(layer) + "." + name; }

std::string shapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The named tensor as f32, after checking it exists with exactly this shape.
AlignedVec<float> take(const TensorViews& tensors, const std::string& name, std::vector<int64_t> shape) {
  auto it = tensors.find(name);
  if (it == tensors.end()) fail("ERR_NATIVE_TENSOR", "missing tensor " + name);
  if (it->second.shape != shape)
    fail("ERR_NATIVE_TENSOR", "tensor " + name + " has shape " + shapeText(it->second.shape) +
                                  ", expected " + shapeText(shape));
  return toFloat32(it->second);
}

}  // namespace

std::vector<std::string> requiredTensorNames(const ModelConfig& c) {
  bool gpt2 = c.family == Family::Gpt2;
  std::vector<std::string> names = {"token_embd.weight", "output_norm.weight"};
  if (gpt2) names.insert(names.end(), {"position_embd.weight", "output_norm.bias"});
  if (!c.tieEmbeddings) names.push_back("output.weight");
  for (int l = 0; l < c.numLayers; ++l) {
    for (const char* n : {"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
                          "attn_output.weight", "ffn_norm.weight", "ffn_up.weight", "ffn_down.weight"})
      names.push_back(blk(l, n));
    if (!gpt2) names.push_back(blk(l, "ffn_gate.weight"));
    if (c.qkNorm) names.insert(names.end(), {blk(l, "attn_q_norm.weight"), blk(l, "attn_k_norm.weight")});
    if (c.postNorms) names.insert(names.end(), {blk(l, "attn_post_norm.weight"), blk(l, "ffn_post_norm.weight")});
    if (c.hasQkvBias())
      for (const char* n : {"attn_q.bias", "attn_k.bias", "attn_v.bias"}) names.push_back(blk(l, n));
    if (gpt2)
      for (const char* n : {"attn_norm.bias", "attn_output.bias", "ffn_norm.bias", "ffn_up.bias", "ffn_down.bias"})
        names.push_back(blk(l, n));
  }
  return names;
}

static LayerWeights loadLayer(const ModelConfig& c, WeightDtype dtype, bool pairs, const TensorViews& t, int l) {
  const int64_t hidden = c.hiddenSize, q = c.qDim(), kv = c.kvDim(), ffn = c.intermediateSize;
  bool gpt2 = c.family == Family::Gpt2;
  LayerWeights w;
  w.attnNorm = take(t, blk(l, "attn_norm.weight"), {hidden});
  auto wq = take(t, blk(l, "attn_q.weight"), {q, hidden});
  auto wk = take(t, blk(l, "attn_k.weight"), {kv, hidden});
  auto wv = take(t, blk(l, "attn_v.weight"), {kv, hidden});
  w.qkv = packMatrix({{wq.data(), int(q)}, {wk.data(), int(kv)}, {wv.data(), int(kv)}}, hidden, dtype, pairs);
  if (c.hasQkvBias()) {
    for (const char* n : {"attn_q.bias", "attn_k.bias", "attn_v.bias"}) {
      auto b = take(t, blk(l, n), {n[5] == 'q' ? q : kv});
      w.qkvBias.insert(w.qkvBias.end(), b.begin(), b.end());
    }
  }
  auto wo = take(t, blk(l, "attn_output.weight"), {hidden, q});
  w.attnOut = packMatrix({{wo.data(), int(hidden)}}, int(q), dtype, pairs);
  w.ffnNorm = take(t, blk(l, "ffn_norm.weight"), {hidden});
  auto up = take(t, blk(l, "ffn_up.weight"), {ffn, hidden});
  if (gpt2) {
    w.gateUp = packMatrix({{up.data(), int(ffn)}}, hidden, dtype, pairs);
  } else {
    auto gate = take(t, blk(l, "ffn_gate.weight"), {ffn, hidden});
    w.gateUp = packMatrix({{gate.data(), int(ffn)}, {up.data(), int(ffn)}}, hidden, dtype, pairs);
  }
  auto down = take(t, blk(l, "ffn_down.weight"), {hidden, ffn});
  w.down = packMatrix({{down.data(), int(hidden)}}, int(ffn), dtype, pairs);
  if (c.qkNorm) {
    w.qNorm = take(t, blk(l, "attn_q_norm.weight"), {c.headDim});
    w.kNorm = take(t, blk(l, "attn_k_norm.weight"), {c.headDim});
  }
  if (c.postNorms) {
    w.attnPostNorm = take(t, blk(l, "attn_post_norm.weight"), {hidden});
    w.ffnPostNorm = take(t, blk(l, "ffn_post_norm.weight"), {hidden});
  }
  if (gpt2) {
    w.attnNormBias = take(t, blk(l, "attn_norm.bias"), {hidden});
    w.attnOutBias = take(t, blk(l, "attn_output.bias"), {hidden});
    w.ffnNormBias = take(t, blk(l, "ffn_norm.bias"), {hidden});
    w.gateUpBias = take(t, blk(l, "ffn_up.bias"), {ffn});
    w.downBias = take(t, blk(l, "ffn_down.bias"), {hidden});
  }
  return w;
}

Weights loadWeights(const ModelConfig& c, WeightDtype dtype, const TensorViews& t, bool pairs) {
  const int64_t hidden = c.hiddenSize, vocab = c.vocabSize;
  Weights w;
  w.tokenEmbedding = take(t, "token_embd.weight", {vocab, hidden});
  if (c.family == Family::Gpt2) {
    w.positionEmbedding = take(t, "position_embd.weight", {c.contextLength, hidden});
    w.outputNormBias = take(t, "output_norm.bias", {hidden});
  }
  w.outputNorm = take(t, "output_norm.weight", {hidden});
  for (int l = 0; l < c.numLayers; ++l) w.layers.push_back(loadLayer(c, dtype, pairs, t, l));
  if (c.tieEmbeddings) {
    w.output = packMatrix({{w.tokenEmbedding.data(), int(vocab)}}, int(hidden), dtype, pairs);
  } else {
    auto out = take(t, "output.weight", {vocab, hidden});
    w.output = packMatrix({{out.data(), int(vocab)}}, int(hidden), dtype, pairs);
  }
  return w;
}

static size_t vecBytes(const AlignedVec<float>& v) { return v.size() * 4; }

size_t Weights::bytes() const {
  size_t total = vecBytes(tokenEmbedding) + vecBytes(positionEmbedding) + vecBytes(outputNorm) +
                 vecBytes(outputNormBias) + output.bytes();
  for (const LayerWeights& l : layers)
    total += vecBytes(l.attnNorm) + vecBytes(l.attnNormBias) + l.qkv.bytes() + vecBytes(l.qkvBias) +
             l.attnOut.bytes() + vecBytes(l.attnOutBias) + vecBytes(l.ffnNorm) + vecBytes(l.ffnNormBias) +
             l.gateUp.bytes() + vecBytes(l.gateUpBias) + l.down.bytes() + vecBytes(l.downBias) + vecBytes(l.qNorm) +
             vecBytes(l.kNorm) + vecBytes(l.attnPostNorm) + vecBytes(l.ffnPostNorm);
  return total;
}

}  // namespace nano
