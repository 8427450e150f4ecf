/**
 * Small random models for tests: fast-check arbitraries of configs of both families,
 * seeded random weights for every canonical tensor, and re-encodings to bf16/f16.
 */
import fc from 'fast-check';
import type { ModelConfig, ModelFamily, TensorDtype, TensorMap } from '../../src/models/config.js';
import { bf16ToF32, f16ToF32 } from './forward.js';

/** mulberry32: a tiny seeded generator of uniforms in [0, 1). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seededNormal(seed: number): () => number {
  const uniform = seededRandom(seed);
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

const commonFields = {
  vocabSize: fc.integer({ min: 16, max: 300 }),
  numLayers: fc.integer({ min: 1, max: 3 }),
  intermediateSize: fc.integer({ min: 8, max: 96 }),
  contextLength: fc.integer({ min: 64, max: 256 }),
  // Large eps values make the exact placement of eps in the norm observable.
  normEps: fc.constantFrom(1e-6, 1e-5, 1e-2, 0.3),
  tieEmbeddings: fc.boolean(),
  qkvBias: fc.boolean(),
};

const llamaConfig: fc.Arbitrary<ModelConfig> = fc
  .record({ numHeads: fc.integer({ min: 1, max: 4 }), kvDivisor: fc.integer({ min: 1, max: 4 }) })
  .chain(({ numHeads, kvDivisor }) =>
    fc.record({
      ...commonFields,
      family: fc.constant<ModelFamily>('llama'),
      numHeads: fc.constant(numHeads),
      numKvHeads: fc.constant(numHeads % kvDivisor === 0 ? numHeads / kvDivisor : numHeads),
      headDim: fc.integer({ min: 1, max: 8 }).map((n) => 2 * n),
      hiddenSize: fc.integer({ min: 8, max: 64 }),
      // Small bases rotate fast, so a wrong frequency or pairing shows at short positions.
      ropeTheta: fc.constantFrom(10_000, 500_000, 100, 10),
      ropeNeox: fc.boolean(),
    }),
  );

const gpt2Config: fc.Arbitrary<ModelConfig> = fc.integer({ min: 1, max: 4 }).chain((numHeads) =>
  fc.integer({ min: Math.ceil(8 / numHeads), max: Math.floor(64 / numHeads) }).chain((headDim) =>
    fc.record({
      ...commonFields,
      family: fc.constant<ModelFamily>('gpt2'),
      numHeads: fc.constant(numHeads),
      numKvHeads: fc.constant(numHeads),
      headDim: fc.constant(headDim),
      hiddenSize: fc.constant(numHeads * headDim),
      ropeTheta: fc.constant(10_000),
      ropeNeox: fc.boolean(),
    }),
  ),
);

/** A small config of the given family, or of either. */
export function randomConfig(family?: ModelFamily): fc.Arbitrary<ModelConfig> {
  if (family === 'llama') return llamaConfig;
  if (family === 'gpt2') return gpt2Config;
  return fc.oneof(llamaConfig, gpt2Config);
}

/** Every canonical tensor of `c` (shape, and the scale of its values), in load order. */
export function tensorSpecs(c: ModelConfig): { name: string; shape: number[]; scale: number; offset?: number }[] {
  const isGpt2 = c.family === 'gpt2';
  const { hiddenSize: hidden, intermediateSize: ffn } = c;
  const qRows = c.numHeads * c.headDim;
  const kvRows = c.numKvHeads * c.headDim;
  const linear = (name: string, rows: number, cols: number, gain: number) => ({ name, shape: [rows, cols], scale: gain / Math.sqrt(cols) });
  const vector = (name: string, len: number, scale: number, offset = 0) => ({ name, shape: [len], scale, offset });
  const norm = (prefix: string) => [vector(`${prefix}.weight`, hidden, 0.2, 1), ...(isGpt2 ? [vector(`${prefix}.bias`, hidden, 0.1)] : [])];

  // Tied logits are dot products with embedding rows: scale those so logits stay a few units.
  const embdScale = c.tieEmbeddings ? 3 / Math.sqrt(hidden) : 1;
  const specs = [{ name: 'token_embd.weight', shape: [c.vocabSize, hidden], scale: embdScale }];
  if (isGpt2) specs.push({ name: 'position_embd.weight', shape: [c.contextLength, hidden], scale: 0.5 * embdScale });
  for (let l = 0; l < c.numLayers; l++) {
    const blk = `blk.${l}`;
    specs.push(...norm(`${blk}.attn_norm`));
    // q and k a little larger than unit gain, so attention is peaked rather than uniform
    specs.push(linear(`${blk}.attn_q.weight`, qRows, hidden, 1.4), linear(`${blk}.attn_k.weight`, kvRows, hidden, 1.4));
    specs.push(linear(`${blk}.attn_v.weight`, kvRows, hidden, 1));
    if (isGpt2 || c.qkvBias) {
      specs.push(vector(`${blk}.attn_q.bias`, qRows, 0.2), vector(`${blk}.attn_k.bias`, kvRows, 0.2), vector(`${blk}.attn_v.bias`, kvRows, 0.2));
    }
    specs.push(linear(`${blk}.attn_output.weight`, hidden, qRows, 0.8));
    if (isGpt2) specs.push(vector(`${blk}.attn_output.bias`, hidden, 0.1));
    specs.push(...norm(`${blk}.ffn_norm`));
    if (!isGpt2) specs.push(linear(`${blk}.ffn_gate.weight`, ffn, hidden, 1.5));
    specs.push(linear(`${blk}.ffn_up.weight`, ffn, hidden, 1.5));
    if (isGpt2) specs.push(vector(`${blk}.ffn_up.bias`, ffn, 0.2));
    specs.push(linear(`${blk}.ffn_down.weight`, hidden, ffn, 0.8));
    if (isGpt2) specs.push(vector(`${blk}.ffn_down.bias`, hidden, 0.1));
  }
  specs.push(...norm('output_norm'));
  if (!c.tieEmbeddings) specs.push(linear('output.weight', c.vocabSize, hidden, 2));
  return specs;
}

/** Seeded f32 values for every canonical tensor of `c`. Activations stay O(1); logits spread over a few units. */
export function randomTensors(c: ModelConfig, seed: number): TensorMap {
  const normal = seededNormal(seed);
  const tensors: TensorMap = {};
  for (const { name, shape, scale, offset = 0 } of tensorSpecs(c)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = offset + scale * normal();
    tensors[name] = { dtype: 'f32', shape, data };
  }
  return tensors;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f32 -> bf16 bits, round to nearest even. */
export function f32ToBf16(v: number): number {
  f32[0] = v;
  const bits = u32[0];
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** f32 -> IEEE half bits, round to nearest even; overflow goes to infinity. */
export function f32ToF16(v: number): number {
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (Number.isNaN(v)) return 0x7e00;
  if (a < 2 ** -14) return sign | roundHalfEven(a / 2 ** -24); // subnormal (1024 rounds up into the smallest normal)
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  let frac = roundHalfEven((a / 2 ** e - 1) * 1024);
  if (frac === 1024) { e++; frac = 0; }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | frac;
}

/**
 * The same model with its tensors stored as `dtype` raw bits (values rounded to nearest even):
 * the 2-D ones (matmul weights and embeddings), or all of them (norms and biases too).
 */
export function encodeTensors(tensors: TensorMap, dtype: Exclude<TensorDtype, 'f32'>, which: '2d' | 'all' = '2d'): TensorMap {
  const encode = dtype === 'bf16' ? f32ToBf16 : f32ToF16;
  const out: TensorMap = {};
  for (const [name, t] of Object.entries(tensors)) {
    if ((which === '2d' && t.shape.length !== 2) || t.dtype !== 'f32') { out[name] = t; continue; }
    const bits = new Uint16Array(t.data.length);
    for (let i = 0; i < bits.length; i++) bits[i] = encode(t.data[i]);
    out[name] = { dtype, shape: t.shape, data: bits };
  }
  return out;
}

/** The same model with its tensors' values rounded to `dtype` (as encodeTensors), still stored as f32. */
export function roundTensors(tensors: TensorMap, dtype: Exclude<TensorDtype, 'f32'>, which: '2d' | 'all' = '2d'): TensorMap {
  const decode = dtype === 'bf16' ? bf16ToF32 : f16ToF32;
  const out: TensorMap = {};
  for (const [name, t] of Object.entries(encodeTensors(tensors, dtype, which))) {
    if (t.dtype === 'f32') { out[name] = t; continue; }
    const data = new Float32Array(t.data.length);
    for (let i = 0; i < data.length; i++) data[i] = decode(t.data[i]);
    out[name] = { dtype: 'f32', shape: t.shape, data };
  }
  return out;
}
