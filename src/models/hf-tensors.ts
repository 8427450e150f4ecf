/**
 * Hugging Face tensor names -> the executor's canonical names (src/native/binding.ts), with
 * the reshaping some architectures need at load: GPT-2's Conv1D weights are transposed and its
 * fused c_attn split; Phi-3's fused qkv_proj and gate_up_proj are split by rows; Gemma's
 * RMSNorm weights, applied as (1 + w), are stored as 1 + w (computed in float32, as
 * transformers does at run time).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError } from '../errors.js';
import type { ModelConfig, Tensor, TensorMap } from './config.js';
import type { LoadedTensor } from './safetensors.js';

const LLAMA_LAYER: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight', 'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.weight': 'attn_k.weight', 'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.weight': 'attn_v.weight', 'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'self_attn.q_norm.weight': 'attn_q_norm.weight', 'self_attn.k_norm.weight': 'attn_k_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight', 'mlp.up_proj.weight': 'ffn_up.weight', 'mlp.down_proj.weight': 'ffn_down.weight',
};
/** Gemma 2/3: four norms per layer; post_attention_layernorm normalizes the attention output. */
const GEMMA_LAYER: Record<string, string> = {
  ...LLAMA_LAYER,
  'post_attention_layernorm.weight': 'attn_post_norm.weight',
  'pre_feedforward_layernorm.weight': 'ffn_norm.weight',
  'post_feedforward_layernorm.weight': 'ffn_post_norm.weight',
};
const LLAMA_GLOBAL: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight', 'model.norm.weight': 'output_norm.weight', 'lm_head.weight': 'output.weight',
};
/** GPT-2 names (after any "transformer." prefix); Conv1D weights are [in, out] and get transposed. */
const GPT2_LAYER: Record<string, string> = {
  'ln_1.weight': 'attn_norm.weight', 'ln_1.bias': 'attn_norm.bias', 'ln_2.weight': 'ffn_norm.weight', 'ln_2.bias': 'ffn_norm.bias',
  'attn.c_proj.weight': 'attn_output.weight', 'attn.c_proj.bias': 'attn_output.bias',
  'mlp.c_fc.weight': 'ffn_up.weight', 'mlp.c_fc.bias': 'ffn_up.bias', 'mlp.c_proj.weight': 'ffn_down.weight', 'mlp.c_proj.bias': 'ffn_down.bias',
};
const GPT2_GLOBAL: Record<string, string> = {
  'wte.weight': 'token_embd.weight', 'wpe.weight': 'position_embd.weight', 'ln_f.weight': 'output_norm.weight', 'ln_f.bias': 'output_norm.bias',
};

const isGemma = (c: ModelConfig): boolean => c.postNorms === true;

export function mapTensors(source: Map<string, LoadedTensor>, config: ModelConfig, dir: string): TensorMap {
  const expected = expectedShapes(config);
  const out: TensorMap = {};
  const from: Record<string, { hfName: string; file: string }> = {};
  for (const [hfName, tensor] of source) {
    for (const [name, t] of canonical(hfName, tensor, config)) {
      if (!expected.has(name)) continue; // buffers (attn.bias masks, rotary inv_freq), a tied lm_head
      out[name] = isGemma(config) && /norm\.weight$/.test(name) ? onePlus(t) : { dtype: t.dtype, shape: t.shape, data: t.data };
      from[name] = { hfName, file: tensor.file };
    }
  }
  const weightsFile = existsSync(join(dir, 'model.safetensors.index.json')) ? join(dir, 'model.safetensors.index.json') : join(dir, 'model.safetensors');
  for (const [name, shape] of expected) {
    const t = out[name];
    if (!t) throw new ModelLoadError(`${weightsFile}: missing tensor ${name} (${hfNameOf(name, config)})`, weightsFile);
    if (!sameShape(t.shape, shape)) {
      const { hfName, file } = from[name];
      throw new ModelLoadError(`${file}: tensor ${hfName} (${name}) has shape [${t.shape}], expected [${shape}]`, file);
    }
  }
  return out;
}

/** The canonical tensors one HF tensor becomes (none, one, or several for fused projections). */
function canonical(hfName: string, t: LoadedTensor, config: ModelConfig): Array<[string, Tensor]> {
  const isGpt2 = config.family === 'gpt2';
  const name = isGpt2 ? hfName.replace(/^transformer\./, '') : languageModelName(hfName);
  const global = (isGpt2 ? GPT2_GLOBAL : LLAMA_GLOBAL)[name];
  if (global) return [[global, t]];
  const m = /^(?:model\.layers|h)\.(\d+)\.(.+)$/.exec(name);
  if (!m) return [];
  const blk = `blk.${m[1]}.`;
  if (!isGpt2) {
    const q = config.numHeads * config.headDim, kv = config.numKvHeads * config.headDim, ffn = config.intermediateSize;
    if (m[2] === 'self_attn.qkv_proj.weight') return splitRows(blk, 'self_attn.qkv_proj.weight', t, [['attn_q.weight', q], ['attn_k.weight', kv], ['attn_v.weight', kv]], config.hiddenSize);
    if (m[2] === 'mlp.gate_up_proj.weight') return splitRows(blk, 'mlp.gate_up_proj.weight', t, [['ffn_gate.weight', ffn], ['ffn_up.weight', ffn]], config.hiddenSize);
    const table = isGemma(config) ? GEMMA_LAYER : LLAMA_LAYER;
    return table[m[2]] ? [[blk + table[m[2]], t]] : [];
  }
  if (m[2] === 'attn.c_attn.weight' || m[2] === 'attn.c_attn.bias') return splitQkv(blk, t, config);
  const target = GPT2_LAYER[m[2]];
  if (!target) return [];
  return [[blk + target, target.endsWith('.weight') && t.shape.length === 2 ? transposed(t) : t]];
}

/** Gemma 3's image-text checkpoints keep the text model under language_model. (Hub) or model.language_model. (transformers 5 in memory). */
function languageModelName(name: string): string {
  if (name.startsWith('language_model.model.')) return 'model.' + name.slice('language_model.model.'.length);
  if (name.startsWith('model.language_model.')) return 'model.' + name.slice('model.language_model.'.length);
  if (name.startsWith('language_model.lm_head.')) return name.slice('language_model.'.length);
  return name;
}

/** A fused [sum(rows), cols] weight (Phi-3) -> its parts, in order, as views of the same memory. */
function splitRows(blk: string, hfName: string, t: LoadedTensor, parts: Array<[string, number]>, cols: number): Array<[string, Tensor]> {
  const rows = parts.reduce((sum, [, r]) => sum + r, 0);
  if (!sameShape(t.shape, [rows, cols])) {
    throw new ModelLoadError(`${t.file}: tensor ${blk.replace('blk.', 'model.layers.')}${hfName} has shape [${t.shape}], expected [${rows}, ${cols}]`, t.file);
  }
  let at = 0;
  return parts.map(([name, r]) => {
    const data = t.data.subarray(at * cols, (at + r) * cols);
    at += r;
    return [blk + name, { dtype: t.dtype, shape: [r, cols], data }];
  });
}

/** GPT-2's fused c_attn: weight [hidden, 3*hidden] (Conv1D) -> transposed, rows split into q, k, v; bias [3*hidden] split. */
function splitQkv(blk: string, t: LoadedTensor, config: ModelConfig): Array<[string, Tensor]> {
  const h = config.hiddenSize;
  const isWeight = t.shape.length === 2;
  const expected = isWeight ? [h, 3 * h] : [3 * h];
  const kind = isWeight ? 'weight' : 'bias';
  if (!sameShape(t.shape, expected)) {
    throw new ModelLoadError(`${t.file}: tensor ${blk}attn.c_attn.${kind} has shape [${t.shape}], expected [${expected}]`, t.file);
  }
  const whole = isWeight ? transposed(t) : t;
  const part = h * (isWeight ? h : 1);
  return ['attn_q', 'attn_k', 'attn_v'].map((p, i) => [
    `${blk}${p}.${kind}`,
    { dtype: t.dtype, shape: isWeight ? [h, h] : [h], data: whole.data.subarray(i * part, (i + 1) * part) },
  ]);
}

/** [rows, cols] -> [cols, rows], written back over the same memory (one matrix of scratch). */
function transposed(t: Tensor): Tensor {
  const [rows, cols] = t.shape;
  const src = t.data.slice();
  const dst = t.data;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
  return { dtype: t.dtype, shape: [cols, rows], data: dst };
}

/** Gemma's norm weight w -> float32(1 + w), as its RMSNorm computes (1.0 + weight.float()). */
function onePlus(t: Tensor): Tensor {
  const out = new Float32Array(t.data.length);
  const bits = new Uint32Array(1);
  const asFloat = new Float32Array(bits.buffer);
  for (let i = 0; i < out.length; i++) {
    let w: number;
    if (t.dtype === 'f32') w = t.data[i];
    else if (t.dtype === 'bf16') {
      bits[0] = t.data[i] << 16;
      w = asFloat[0];
    } else w = halfToFloat(t.data[i]);
    out[i] = Math.fround(1 + w);
  }
  return { dtype: 'f32', shape: t.shape, data: out };
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Every tensor the executor needs for this config, with its shape (as in src/native/binding.ts). */
export function expectedShapes(c: ModelConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const isGpt2 = c.family === 'gpt2';
  const add = (name: string, shape: number[], hasBias = false): void => {
    shapes.set(`${name}.weight`, shape);
    if (hasBias) shapes.set(`${name}.bias`, [shape[0]]);
  };
  add('token_embd', [c.vocabSize, c.hiddenSize]);
  if (isGpt2) add('position_embd', [c.contextLength, c.hiddenSize]);
  for (let i = 0; i < c.numLayers; i++) {
    const b = `blk.${i}.`;
    add(b + 'attn_norm', [c.hiddenSize], isGpt2);
    add(b + 'attn_q', [q, c.hiddenSize], isGpt2 || c.qkvBias);
    add(b + 'attn_k', [kv, c.hiddenSize], isGpt2 || c.qkvBias);
    add(b + 'attn_v', [kv, c.hiddenSize], isGpt2 || c.qkvBias);
    if (c.qkNorm) {
      add(b + 'attn_q_norm', [c.headDim]);
      add(b + 'attn_k_norm', [c.headDim]);
    }
    add(b + 'attn_output', [c.hiddenSize, q], isGpt2);
    if (c.postNorms) add(b + 'attn_post_norm', [c.hiddenSize]);
    add(b + 'ffn_norm', [c.hiddenSize], isGpt2);
    if (!isGpt2) add(b + 'ffn_gate', [c.intermediateSize, c.hiddenSize]);
    add(b + 'ffn_up', [c.intermediateSize, c.hiddenSize], isGpt2);
    add(b + 'ffn_down', [c.hiddenSize, c.intermediateSize], isGpt2);
    if (c.postNorms) add(b + 'ffn_post_norm', [c.hiddenSize]);
  }
  add('output_norm', [c.hiddenSize], isGpt2);
  if (!c.tieEmbeddings) add('output', [c.vocabSize, c.hiddenSize]);
  return shapes;
}

/** The HF name a canonical tensor comes from, for error messages. */
function hfNameOf(name: string, config: ModelConfig): string {
  const isGpt2 = config.family === 'gpt2';
  const global = Object.entries(isGpt2 ? GPT2_GLOBAL : LLAMA_GLOBAL).find(([, v]) => v === name);
  if (global) return global[0];
  const m = /^blk\.(\d+)\.(.+)$/.exec(name);
  if (!m) return name;
  if (isGpt2 && /^attn_[qkv]\./.test(m[2])) return `h.${m[1]}.attn.c_attn.${m[2].split('.')[1]}`;
  const table = isGpt2 ? GPT2_LAYER : isGemma(config) ? GEMMA_LAYER : LLAMA_LAYER;
  const layer = Object.entries(table).reverse().find(([, v]) => v === m[2]);
  return layer ? `${isGpt2 ? 'h' : 'model.layers'}.${m[1]}.${layer[0]}` : name;
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
