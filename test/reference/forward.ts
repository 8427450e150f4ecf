/**
 * The reference forward pass: one sequence, no pages, plain loops, Float64 throughout.
 * Slow and obviously right; the native executor is checked against it.
 *
 * llama: x = token_embd[tok]; per block x += attn(rmsnorm(x)); x += swiglu(rmsnorm(x));
 *        rotary on q and k, grouped-query attention, optional q/k/v bias.
 * gpt2:  x = token_embd[tok] + position_embd[pos]; per block the same with LayerNorm,
 *        biases everywhere and a GELU (tanh form) FFN.
 * Both:  final norm, then logits = x . output^T (or token_embd^T when tied).
 */
import type { AnyTensor, ModelConfig, Tensor, TensorMap } from '../../src/models/config.js';
import { isQuantDtype } from '../../src/models/quant-formats.js';
import { dequantize } from './dequant.js';

const word = new Uint32Array(1);
const wordAsFloat = new Float32Array(word.buffer);

/** Decodes raw bf16 bits (the top half of an f32). */
export function bf16ToF32(bits: number): number {
  word[0] = (bits & 0xffff) << 16;
  return wordAsFloat[0];
}

/** Decodes raw IEEE half bits. */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Any tensor's values as f32. */
export function tensorValues(t: AnyTensor): Float32Array {
  if (isQuantDtype(t.dtype)) return dequantize(t.dtype, t.data as Uint8Array);
  if (t.dtype === 'f32') return t.data as Float32Array;
  const decode = t.dtype === 'bf16' ? bf16ToF32 : f16ToF32;
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = decode(t.data[i]);
  return out;
}

/** Weights of a model, decoded once, looked up by canonical name. */
class Weights {
  private readonly cache = new Map<string, Float32Array>();
  constructor(private readonly tensors: TensorMap) {}

  get(name: string): Float32Array {
    let values = this.cache.get(name);
    if (!values) {
      const t = this.tensors[name];
      if (!t) throw new Error(`reference: missing tensor ${name}`);
      values = tensorValues(t);
      this.cache.set(name, values);
    }
    return values;
  }
}

/** y[r] = sum_c x[c] * w[r, c] + b[r], w row-major [rows, x.length]. */
function linear(x: Float64Array, w: Float32Array, rows: number, b?: Float32Array): Float64Array {
  const cols = x.length;
  if (w.length !== rows * cols) throw new Error(`reference: weight of ${w.length} values is not [${rows}, ${cols}]`);
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let acc = b ? b[r] : 0;
    for (let c = 0; c < cols; c++) acc += x[c] * w[r * cols + c];
    y[r] = acc;
  }
  return y;
}

function rmsNorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let sumSq = 0;
  for (const v of x) sumSq += v * v;
  const inv = 1 / Math.sqrt(sumSq / x.length + eps);
  return x.map((v, i) => v * inv * w[i]);
}

function layerNorm(x: Float64Array, w: Float32Array, b: Float32Array, eps: number): Float64Array {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let variance = 0;
  for (const v of x) variance += (v - mean) * (v - mean);
  variance /= x.length;
  const inv = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * inv * w[i] + b[i]);
}

const silu = (v: number): number => v / (1 + Math.exp(-v));
const geluTanh = (v: number): number => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));

/** Rotates every head of `x` ([numHeads * headDim]) in place for position `pos`. */
export function applyRotary(x: Float64Array, numHeads: number, headDim: number, pos: number, theta: number, neox: boolean): void {
  const half = headDim / 2;
  for (let h = 0; h < numHeads; h++) {
    const base = h * headDim;
    for (let i = 0; i < half; i++) {
      const angle = pos * theta ** (-2 * i / headDim);
      const cos = Math.cos(angle);
      const sin = Math.sin(angle);
      const a = base + (neox ? i : 2 * i);
      const b = base + (neox ? i + half : 2 * i + 1);
      const x0 = x[a];
      const x1 = x[b];
      x[a] = x0 * cos - x1 * sin;
      x[b] = x0 * sin + x1 * cos;
    }
  }
}

/** Causal attention of one query position over the cached keys/values 0..p (inclusive). */
function attend(q: Float64Array, keys: Float64Array[], values: Float64Array[], c: ModelConfig): Float64Array {
  const { numHeads, numKvHeads, headDim } = c;
  const group = numHeads / numKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const out = new Float64Array(numHeads * headDim);
  const scores = new Float64Array(keys.length);
  for (let h = 0; h < numHeads; h++) {
    const qOff = h * headDim;
    const kvOff = Math.floor(h / group) * headDim;
    let max = -Infinity;
    for (let t = 0; t < keys.length; t++) {
      let dot = 0;
      for (let d = 0; d < headDim; d++) dot += q[qOff + d] * keys[t][kvOff + d];
      scores[t] = dot * scale;
      max = Math.max(max, scores[t]);
    }
    let sum = 0;
    for (let t = 0; t < keys.length; t++) sum += (scores[t] = Math.exp(scores[t] - max));
    for (let t = 0; t < keys.length; t++) {
      const p = scores[t] / sum;
      for (let d = 0; d < headDim; d++) out[qOff + d] += p * values[t][kvOff + d];
    }
  }
  return out;
}

function addInto(x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) x[i] += y[i];
}

/** Logits at every position of `tokens`, one Float32Array of vocabSize per position. */
export function referenceLogits(c: ModelConfig, tensors: TensorMap, tokens: number[]): Float32Array[] {
  const all = referenceLogitsAt(c, tensors, tokens, () => true);
  return tokens.map((_, pos) => all.get(pos) as Float32Array);
}

/** Logits at the positions `wanted` picks (the output projection is skipped elsewhere: it dominates on large vocabularies). */
export function referenceLogitsAt(c: ModelConfig, tensors: TensorMap, tokens: number[], wanted: (pos: number) => boolean): Map<number, Float32Array> {
  if (c.family !== 'llama' && c.family !== 'gpt2') throw new Error(`reference: unknown family ${String(c.family)}`);
  const isGpt2 = c.family === 'gpt2';
  const w = new Weights(tensors);
  const norm = (x: Float64Array, prefix: string): Float64Array =>
    isGpt2 ? layerNorm(x, w.get(`${prefix}.weight`), w.get(`${prefix}.bias`), c.normEps) : rmsNorm(x, w.get(`${prefix}.weight`), c.normEps);
  const hasQkvBias = isGpt2 || c.qkvBias;
  const qRows = c.numHeads * c.headDim;
  const kvRows = c.numKvHeads * c.headDim;
  const keys: Float64Array[][] = Array.from({ length: c.numLayers }, () => []);   // [layer][pos] -> [kvRows]
  const values: Float64Array[][] = Array.from({ length: c.numLayers }, () => []);
  const embd = w.get('token_embd.weight');
  const output = c.tieEmbeddings ? embd : w.get('output.weight');
  const logits = new Map<number, Float32Array>();

  tokens.forEach((tok, pos) => {
    if (!Number.isInteger(tok) || tok < 0 || tok >= c.vocabSize) throw new Error(`reference: token ${tok} outside the vocabulary`);
    if (pos >= c.contextLength) throw new Error(`reference: position ${pos} past the context`);
    const x = Float64Array.from(embd.subarray(tok * c.hiddenSize, (tok + 1) * c.hiddenSize));
    if (isGpt2) addInto(x, Float64Array.from(w.get('position_embd.weight').subarray(pos * c.hiddenSize, (pos + 1) * c.hiddenSize)));

    for (let l = 0; l < c.numLayers; l++) {
      const blk = `blk.${l}`;
      // attention block
      const h = norm(x, `${blk}.attn_norm`);
      const bias = (name: string): Float32Array | undefined => (hasQkvBias ? w.get(`${blk}.${name}.bias`) : undefined);
      const q = linear(h, w.get(`${blk}.attn_q.weight`), qRows, bias('attn_q'));
      const k = linear(h, w.get(`${blk}.attn_k.weight`), kvRows, bias('attn_k'));
      const v = linear(h, w.get(`${blk}.attn_v.weight`), kvRows, bias('attn_v'));
      if (!isGpt2) {
        applyRotary(q, c.numHeads, c.headDim, pos, c.ropeTheta, c.ropeNeox);
        applyRotary(k, c.numKvHeads, c.headDim, pos, c.ropeTheta, c.ropeNeox);
      }
      keys[l].push(k);
      values[l].push(v);
      const att = attend(q, keys[l], values[l], c);
      addInto(x, linear(att, w.get(`${blk}.attn_output.weight`), c.hiddenSize, isGpt2 ? w.get(`${blk}.attn_output.bias`) : undefined));

      // feed-forward block
      const f = norm(x, `${blk}.ffn_norm`);
      let act: Float64Array;
      if (isGpt2) {
        act = linear(f, w.get(`${blk}.ffn_up.weight`), c.intermediateSize, w.get(`${blk}.ffn_up.bias`)).map(geluTanh);
      } else {
        const gate = linear(f, w.get(`${blk}.ffn_gate.weight`), c.intermediateSize);
        const up = linear(f, w.get(`${blk}.ffn_up.weight`), c.intermediateSize);
        act = gate.map((g, i) => silu(g) * up[i]);
      }
      addInto(x, linear(act, w.get(`${blk}.ffn_down.weight`), c.hiddenSize, isGpt2 ? w.get(`${blk}.ffn_down.bias`) : undefined));
    }

    if (wanted(pos)) logits.set(pos, Float32Array.from(linear(norm(x, 'output_norm'), output, c.vocabSize)));
  });
  return logits;
}

/** Logits at the last position only. */
export function referenceLastLogits(c: ModelConfig, tensors: TensorMap, tokens: number[]): Float32Array {
  return referenceLogitsAt(c, tensors, tokens, (pos) => pos === tokens.length - 1).get(tokens.length - 1) as Float32Array;
}
