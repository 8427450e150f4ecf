/** Deterministic seeded weights for any ModelConfig: what tests and benches run on. */
import type { FloatTensorMap, ModelConfig, Tensor } from './config.js';

/** Stable 32-bit hash of a tensor name, so each tensor's values don't depend on the others. */
function nameSeed(name: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * A tensor of mean + std * z, z normal-ish (triangular: the standardized sum of two
 * bytes). One mulberry32 draw (a fast seedable 32-bit generator, inlined) gives two values.
 */
function fill(name: string, shape: number[], seed: number, mean: number, std: number): Tensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const scale = std / 104.5119;
  const offset = mean - 255 * scale;
  let state = nameSeed(name, seed);
  for (let i = 0; i < data.length; i += 2) {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    t = (t ^ (t >>> 14)) >>> 0;
    data[i] = offset + scale * ((t & 255) + ((t >>> 8) & 255));
    if (i + 1 < data.length) data[i + 1] = offset + scale * (((t >>> 16) & 255) + (t >>> 24));
  }
  return { dtype: 'f32', shape, data };
}

/**
 * Seeded weights in the canonical tensor names (src/native/binding.ts): linear weights
 * ~ normal / sqrt(fan_in), norm weights ~ 1 + small noise, biases and embeddings small.
 */
export function syntheticTensors(config: ModelConfig, seed = 0, dtype: 'f32' = 'f32'): FloatTensorMap {
  void dtype;
  return syntheticTensorsWith(config, seed, (_, t) => t);
}

/**
 * The same weights, each handed to `each` as soon as it is made (to quantize or write it
 * and drop the f32 values: a 1B-parameter model never sits in memory as f32).
 */
export function syntheticTensorsWith<T>(config: ModelConfig, seed: number, each: (name: string, t: Tensor) => T): Record<string, T> {
  const { hiddenSize: h, vocabSize: vocab, intermediateSize: ffn } = config;
  const q = config.numHeads * config.headDim;
  const kv = config.numKvHeads * config.headDim;
  const gpt2 = config.family === 'gpt2';
  const out: Record<string, T> = {};
  const put = (name: string, shape: number[], mean: number, std: number): void => {
    out[name] = each(name, fill(name, shape, seed, mean, std));
  };
  const linear = (name: string, rows: number, cols: number): void => put(name, [rows, cols], 0, 1 / Math.sqrt(cols));
  const norm = (name: string): void => {
    put(`${name}.weight`, [h], 1, 0.05);
    if (gpt2) bias(`${name}.bias`, h);
  };
  const bias = (name: string, n: number): void => put(name, [n], 0, 0.02);

  put('token_embd.weight', [vocab, h], 0, 0.5);
  if (gpt2) put('position_embd.weight', [config.contextLength, h], 0, 0.1);
  for (let l = 0; l < config.numLayers; l++) {
    const p = `blk.${l}.`;
    norm(`${p}attn_norm`);
    linear(`${p}attn_q.weight`, q, h);
    linear(`${p}attn_k.weight`, kv, h);
    linear(`${p}attn_v.weight`, kv, h);
    if (gpt2 || config.qkvBias) {
      bias(`${p}attn_q.bias`, q);
      bias(`${p}attn_k.bias`, kv);
      bias(`${p}attn_v.bias`, kv);
    }
    linear(`${p}attn_output.weight`, h, q);
    if (gpt2) bias(`${p}attn_output.bias`, h);
    norm(`${p}ffn_norm`);
    if (!gpt2) linear(`${p}ffn_gate.weight`, ffn, h);
    linear(`${p}ffn_up.weight`, ffn, h);
    linear(`${p}ffn_down.weight`, h, ffn);
    if (gpt2) {
      bias(`${p}ffn_up.bias`, ffn);
      bias(`${p}ffn_down.bias`, h);
    }
  }
  norm('output_norm');
  if (!config.tieEmbeddings) linear('output.weight', vocab, h);
  return out;
}
