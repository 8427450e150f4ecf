#include "weights.h"

#include <algorithm>

#include "errors.h"
#include "weights_mmap.h"

namespace nano {

namespace {

std::string blk(int layer, const char* name) { return "blk." + std::to_string(layer) + "." + name; }

std::string shapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The named tensor, after checking it exists with exactly this shape.
const TensorView& view(const TensorViews& tensors, const std::string& name, const std::vector<int64_t>& shape) {
  auto it = tensors.find(name);
  if (it == tensors.end()) fail("ERR_NATIVE_TENSOR", "missing tensor " + name);
  if (it->second.shape != shape)
    fail("ERR_NATIVE_TENSOR", "tensor " + name + " has shape " + shapeText(it->second.shape) +
                                  ", expected " + shapeText(shape));
  return it->second;
}

// The named tensor as f32.
// The named tensor as f32 (its mapped file pages released: weights_mmap.h).
AlignedVec<float> take(const TensorViews& tensors, const std::string& name, std::vector<int64_t> shape) {
  const TensorView& v = view(tensors, name, shape);
  AlignedVec<float> out = toFloat32(v);
  releaseMapped(v);
  return out;
}

// What a matrix is made of: the dtype of the float parts, the pair layout, the quantized kernel.
struct MatrixStorage {
  WeightDtype dtype;
  bool pairs;
  const QuantKernel& quantKernel;
};

// The row-concatenation of the named [rows, k] tensors as one matrix: kept quantized when every
// part is, else packed as s.dtype (quantized parts dequantized). The parts' mapped file pages
// are released once copied.
PackedMatrix matrix(const TensorViews& t, const std::vector<std::pair<std::string, int>>& parts, int k,
                    const MatrixStorage& s, bool mayInterleave = true) {
  std::vector<const TensorView*> views;
  bool allQuantized = true;
  for (const auto& [name, rows] : parts) {
    views.push_back(&view(t, name, {rows, k}));
    allQuantized = allQuantized && isQuantized(views.back()->dtype);
  }
  if (allQuantized) {
    std::vector<QuantSource> sources;
    for (size_t i = 0; i < parts.size(); ++i)
      sources.push_back({quantTypeOf(views[i]->dtype), parts[i].second, static_cast<const uint8_t*>(views[i]->data)});
    PackedMatrix m;
    m.n = 0;
    for (const auto& part : parts) m.n += part.second;
    m.k = k;
    m.quant = makeQuantMatrix(sources, k, mayInterleave ? s.quantKernel.layout : QuantLayout::Rows);
    m.quantKernel = s.quantKernel;
    for (const TensorView* v : views) releaseMapped(*v);
    return m;
  }
  std::vector<AlignedVec<float>> floats;
  std::vector<RowBlock> blocks;
  for (size_t i = 0; i < parts.size(); ++i) {
    floats.push_back(toFloat32(*views[i]));
    releaseMapped(*views[i]);
  }
  for (size_t i = 0; i < parts.size(); ++i) blocks.push_back({floats[i].data(), parts[i].second});
  return packMatrix(blocks, k, s.dtype, s.pairs);
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

static LayerWeights loadLayer(const ModelConfig& c, const MatrixStorage& s, const TensorViews& t, int l) {
  const int64_t hidden = c.hiddenSize, q = c.qDim(), kv = c.kvDim(), ffn = c.intermediateSize;
  bool gpt2 = c.family == Family::Gpt2;
  LayerWeights w;
  w.attnNorm = take(t, blk(l, "attn_norm.weight"), {hidden});
  w.qkv = matrix(t, {{blk(l, "attn_q.weight"), int(q)}, {blk(l, "attn_k.weight"), int(kv)}, {blk(l, "attn_v.weight"), int(kv)}},
                 int(hidden), s);
  if (c.hasQkvBias()) {
    for (const char* n : {"attn_q.bias", "attn_k.bias", "attn_v.bias"}) {
      auto b = take(t, blk(l, n), {n[5] == 'q' ? q : kv});
      w.qkvBias.insert(w.qkvBias.end(), b.begin(), b.end());
    }
  }
  w.attnOut = matrix(t, {{blk(l, "attn_output.weight"), int(hidden)}}, int(q), s);
  w.ffnNorm = take(t, blk(l, "ffn_norm.weight"), {hidden});
  if (gpt2) w.gateUp = matrix(t, {{blk(l, "ffn_up.weight"), int(ffn)}}, int(hidden), s);
  else w.gateUp = matrix(t, {{blk(l, "ffn_gate.weight"), int(ffn)}, {blk(l, "ffn_up.weight"), int(ffn)}}, int(hidden), s);
  w.down = matrix(t, {{blk(l, "ffn_down.weight"), int(hidden)}}, int(ffn), s);
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

Weights loadWeights(const ModelConfig& c, WeightDtype dtype, const TensorViews& t, bool pairs,
                    const QuantKernel& quantKernel) {
  const int64_t hidden = c.hiddenSize, vocab = c.vocabSize;
  const MatrixStorage s{dtype, pairs, quantKernel};
  Weights w;
  const TensorView& embd = view(t, "token_embd.weight", {vocab, hidden});
  PackedMatrix tokenMatrix;
  if (isQuantized(embd.dtype)) {
    tokenMatrix = matrix(t, {{"token_embd.weight", int(vocab)}}, int(hidden), s, false);  // rows stay rows: lookups
    w.tokenQuant = tokenMatrix.quant;
  } else {
    w.tokenEmbedding = toFloat32(embd);
    releaseMapped(embd);
  }
  if (c.family == Family::Gpt2) {
    w.positionEmbedding = take(t, "position_embd.weight", {c.contextLength, hidden});
    w.outputNormBias = take(t, "output_norm.bias", {hidden});
  }
  w.outputNorm = take(t, "output_norm.weight", {hidden});
  for (int l = 0; l < c.numLayers; ++l) w.layers.push_back(loadLayer(c, s, t, l));
  if (c.tieEmbeddings && w.tokenQuant) w.output = tokenMatrix;  // shares the quantized rows
  else if (c.tieEmbeddings) w.output = packMatrix({{w.tokenEmbedding.data(), int(vocab)}}, int(hidden), dtype, pairs);
  else w.output = matrix(t, {{"output.weight", int(vocab)}}, int(hidden), s);
  if (w.maxQuantK() > 0 || w.tokenQuant) w.quantKernel = quantKernel.name;
  return w;
}

int Weights::maxQuantK() const {
  int k = output.quant ? output.k : 0;
  for (const LayerWeights& l : layers)
    for (const PackedMatrix* m : {&l.qkv, &l.attnOut, &l.gateUp, &l.down})
      if (m->quant) k = std::max(k, m->k);
  return k;
}

static size_t vecBytes(const AlignedVec<float>& v) { return v.size() * 4; }

size_t Weights::bytes() const {
  const bool tiedQuant = tokenQuant && output.quant == tokenQuant;  // counted once
  size_t total = vecBytes(tokenEmbedding) + (tokenQuant && !tiedQuant ? tokenQuant->bytes() : 0) +
                 vecBytes(positionEmbedding) + vecBytes(outputNorm) + vecBytes(outputNormBias) + output.bytes();
  for (const LayerWeights& l : layers)
    total += vecBytes(l.attnNorm) + vecBytes(l.attnNormBias) + l.qkv.bytes() + vecBytes(l.qkvBias) +
             l.attnOut.bytes() + vecBytes(l.attnOutBias) + vecBytes(l.ffnNorm) + vecBytes(l.ffnNormBias) +
             l.gateUp.bytes() + vecBytes(l.gateUpBias) + l.down.bytes() + vecBytes(l.downBias) + vecBytes(l.qNorm) +
             vecBytes(l.kNorm) + vecBytes(l.attnPostNorm) + vecBytes(l.ffnPostNorm);
  return total;
}

}  // namespace nano
