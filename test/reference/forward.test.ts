/** Sanity of the reference forward pass itself: hand-computed cases and properties that a wrong reference breaks. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ModelConfig, TensorMap } from '../../src/models/config.js';
import { applyRotary, bf16ToF32, f16ToF32, referenceLastLogits, referenceLogits } from './forward.js';
import { encodeTensors, f32ToBf16, f32ToF16, randomConfig, randomTensors, roundTensors } from './tensors.js';
import { seeded } from '../property-seed.js';

function tinyConfig(overrides: Partial<ModelConfig>): ModelConfig {
  return {
    family: 'llama', vocabSize: 3, hiddenSize: 2, numLayers: 1, numHeads: 1, numKvHeads: 1, headDim: 2,
    intermediateSize: 1, contextLength: 8, normEps: 0, ropeTheta: 10_000, ropeNeox: true, tieEmbeddings: true, qkvBias: false,
    ...overrides,
  };
}

const f32 = (shape: number[], values?: number[]) => ({
  dtype: 'f32' as const, shape, data: values ? Float32Array.from(values) : new Float32Array(shape.reduce((a, b) => a * b, 1)),
});

/** A 1-layer model whose attention and FFN weights are all zero: each block adds nothing (or only its biases). */
function zeroBlockTensors(c: ModelConfig, embd: number[]): TensorMap {
  const t: TensorMap = {};
  for (const spec of Object.entries(randomTensors(c, 1))) t[spec[0]] = f32(spec[1].shape);
  t['token_embd.weight'] = f32([c.vocabSize, c.hiddenSize], embd);
  for (const norm of ['blk.0.attn_norm', 'blk.0.ffn_norm', 'output_norm']) t[`${norm}.weight`] = f32([c.hiddenSize], [1, 1]);
  return t;
}

const embd = [3, 4, 1, 0, 0, -2]; // rows e0 = [3, 4], e1 = [1, 0], e2 = [0, -2]

describe('reference forward: hand-computed', () => {
  it('llama with zero blocks: logits = E . rmsnorm(e_tok)', () => {
    const c = tinyConfig({});
    // rmsnorm([3, 4]) = [3, 4] / sqrt(12.5); dots with the rows: 25/sqrt(12.5), 3/sqrt(12.5), -8/sqrt(12.5)
    const logits = referenceLastLogits(c, zeroBlockTensors(c, embd), [0]);
    expect(Array.from(logits)).toEqual([5 * Math.SQRT2, 0.6 * Math.SQRT2, -1.6 * Math.SQRT2].map((v) => expect.closeTo(v, 5)));
  });

  it('llama: eps sits inside the square root', () => {
    // zero blocks leave the residual [3, 4]; output norm: [3, 4] / sqrt(12.5 + 3.5) = [0.75, 1]
    const logits = referenceLastLogits(tinyConfig({ normEps: 3.5 }), zeroBlockTensors(tinyConfig({}), embd), [0]);
    expect(Array.from(logits)).toEqual([6.25, 0.75, -2].map((v) => expect.closeTo(v, 6)));
  });

  it('llama SwiGLU: x += down(silu(gate . n) * (up . n))', () => {
    const c = tinyConfig({});
    const t = zeroBlockTensors(c, embd);
    t['blk.0.ffn_gate.weight'] = f32([1, 2], [1, 0]);
    t['blk.0.ffn_up.weight'] = f32([1, 2], [0, 1]);
    t['blk.0.ffn_down.weight'] = f32([2, 1], [1, 0]);
    const n = [3 / Math.sqrt(12.5), 4 / Math.sqrt(12.5)];
    const x = [3 + (n[0] / (1 + Math.exp(-n[0]))) * n[1], 4];
    const inv = 1 / Math.sqrt((x[0] ** 2 + x[1] ** 2) / 2);
    const logits = referenceLastLogits(c, t, [0]);
    expect(logits[1]).toBeCloseTo(x[0] * inv, 5);
    expect(logits[2]).toBeCloseTo(-2 * x[1] * inv, 5);
  });

  it('gpt2 with zero blocks: LayerNorm centres and scales, logits = E . ln(e_tok + p_pos)', () => {
    const c = tinyConfig({ family: 'gpt2' });
    const t = zeroBlockTensors(c, embd);
    t['position_embd.weight'] = f32([8, 2], [0, 0, 1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const logits = referenceLogits(c, t, [0, 0]);
    // pos 0: ln([3, 4]) = [-1, 1];  pos 1: ln([4, 3]) = [1, -1]
    expect(Array.from(logits[0])).toEqual([1, -1, -2].map((v) => expect.closeTo(v, 5)));
    expect(Array.from(logits[1])).toEqual([-1, 1, 2].map((v) => expect.closeTo(v, 5)));
  });

  it('gpt2 FFN: x += down(gelu_tanh(up . ln(x))), gelu_tanh(2) = 1.9545977 (erf form 1.9544997)', () => {
    const c = tinyConfig({ family: 'gpt2', normEps: 1 });
    const t = zeroBlockTensors(c, embd);
    // ln([3, 4]) with eps 1 = [-0.5, 0.5] / sqrt(1.25), so up = 0.5 / sqrt(1.25) * sqrt(20) = 2
    t['blk.0.ffn_up.weight'] = f32([1, 2], [0, Math.sqrt(20)]);
    t['blk.0.ffn_down.weight'] = f32([2, 1], [0, 1]);
    // x = [3, 4 + 1.9545977]; its LayerNorm with eps 1, dotted with e1 and e2 (python, f64)
    const logits = referenceLastLogits(c, t, [0]);
    expect(logits[1]).toBeCloseTo(-0.828114073, 6); // erf GELU would give -0.828105445
    expect(logits[2]).toBeCloseTo(-1.656228146, 6);
  });

  it('rotary: identity at position 0; half-split vs adjacent pairs at position 1', () => {
    const x = Float64Array.from([1, 2, 3, 4]);
    applyRotary(x, 1, 4, 0, 100, true);
    expect(Array.from(x)).toEqual([1, 2, 3, 4]);
    applyRotary(x, 1, 4, 0, 100, false);
    expect(Array.from(x)).toEqual([1, 2, 3, 4]);
    // headDim 4, theta 100: pair 0 turns by 1 rad, pair 1 by 100^(-1/2) = 0.1 rad
    const neox = Float64Array.from([1, 1, 0, 0]);
    applyRotary(neox, 1, 4, 1, 100, true); // pairs (0, 2), (1, 3)
    expect(Array.from(neox)).toEqual([Math.cos(1), Math.cos(0.1), Math.sin(1), Math.sin(0.1)].map((v) => expect.closeTo(v, 12)));
    const adjacent = Float64Array.from([1, 0, 0, 1]);
    applyRotary(adjacent, 1, 4, 1, 100, false); // pairs (0, 1), (2, 3)
    expect(Array.from(adjacent)).toEqual([Math.cos(1), Math.sin(1), -Math.sin(0.1), Math.cos(0.1)].map((v) => expect.closeTo(v, 12)));
  });
});

const model = fc.record({ config: randomConfig(), seed: fc.nat() });

describe('reference forward: properties', () => {
  it('rotary preserves norms and makes q.k depend only on the distance', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 50 }),
      fc.boolean(), fc.nat(),
      (halfDim, p, q, shift, neox, seed) => {
        const rand = randomTensors(tinyConfig({ vocabSize: 2, hiddenSize: 2 * halfDim }), seed)['token_embd.weight'].data;
        const a = Float64Array.from(rand.subarray(0, 2 * halfDim));
        const b = Float64Array.from(rand.subarray(2 * halfDim));
        const dotAt = (pa: number, pb: number) => {
          const ra = a.slice(); const rb = b.slice();
          applyRotary(ra, 1, 2 * halfDim, pa, 10_000, neox);
          applyRotary(rb, 1, 2 * halfDim, pb, 10_000, neox);
          expect(Math.hypot(...ra)).toBeCloseTo(Math.hypot(...a), 9);
          return ra.reduce((s, v, i) => s + v * rb[i], 0);
        };
        expect(dotAt(p + shift, q + shift)).toBeCloseTo(dotAt(p, q), 8);
      }), { numRuns: 50, ...seeded(101) });
  });

  it('causal: changing a later token leaves earlier logits unchanged', () => {
    fc.assert(fc.property(model, fc.array(fc.nat(), { minLength: 2, maxLength: 12 }), fc.nat(), ({ config, seed }, raw, pick) => {
      const t = randomTensors(config, seed);
      const tokens = raw.map((v) => v % config.vocabSize);
      const at = 1 + (pick % (tokens.length - 1));
      const changed = tokens.slice();
      changed[at] = (tokens[at] + 1) % config.vocabSize;
      const a = referenceLogits(config, t, tokens);
      const b = referenceLogits(config, t, changed);
      for (let p = 0; p < at; p++) expect(b[p]).toEqual(a[p]);
      expect(b[at]).not.toEqual(a[at]);
    }), { numRuns: 15 });
  });

  it('the first position attends only to itself: q and k weights do not matter there', () => {
    fc.assert(fc.property(model, fc.nat(), ({ config, seed }, tok) => {
      const t = randomTensors(config, seed);
      const other = randomTensors(config, seed + 1);
      const swapped = { ...t, 'blk.0.attn_q.weight': other['blk.0.attn_q.weight'], 'blk.0.attn_k.weight': other['blk.0.attn_k.weight'] };
      const tokens = [tok % config.vocabSize, (tok + 1) % config.vocabSize];
      const a = referenceLogits(config, t, tokens);
      const b = referenceLogits(config, swapped, tokens);
      expect(b[0]).toEqual(a[0]);
      expect(b[1]).not.toEqual(a[1]);
    }), { numRuns: 15 });
  });

  it('grouped-query attention: head h reads kv head floor(h / group), as duplicating kv heads shows', () => {
    fc.assert(fc.property(randomConfig('llama'), fc.nat(), fc.array(fc.nat(), { minLength: 1, maxLength: 8 }), (base, seed, raw) => {
      const gqa = { ...base, numHeads: 4, numKvHeads: 2 };
      const mha = { ...gqa, numKvHeads: 4 };
      const t = randomTensors(gqa, seed);
      const widened: TensorMap = { ...t };
      for (let l = 0; l < gqa.numLayers; l++) {
        for (const name of ['attn_k', 'attn_v']) {
          for (const kind of ['weight', 'bias']) {
            const key = `blk.${l}.${name}.${kind}`;
            const src = t[key];
            if (!src) continue;
            const rowLen = kind === 'weight' ? gqa.hiddenSize : 1;
            const out = new Float32Array(src.data.length * 2);
            for (let kv = 0; kv < 2; kv++) {
              const block = src.data.subarray(kv * gqa.headDim * rowLen, (kv + 1) * gqa.headDim * rowLen) as Float32Array;
              out.set(block, 2 * kv * gqa.headDim * rowLen);
              out.set(block, (2 * kv + 1) * gqa.headDim * rowLen);
            }
            widened[key] = { dtype: 'f32', shape: kind === 'weight' ? [4 * gqa.headDim, gqa.hiddenSize] : [4 * gqa.headDim], data: out };
          }
        }
      }
      const tokens = raw.map((v) => v % gqa.vocabSize);
      const a = referenceLogits(gqa, t, tokens);
      const b = referenceLogits(mha, widened, tokens);
      a.forEach((row, p) => row.forEach((v, i) => expect(b[p][i]).toBeCloseTo(v, 4)));
    }), { numRuns: 10, ...seeded(147) });
  });

  it('tied output equals an untied output.weight that copies token_embd', () => {
    fc.assert(fc.property(model, fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), ({ config, seed }, raw) => {
      const tied = { ...config, tieEmbeddings: true };
      const t = randomTensors(tied, seed);
      const untied = { ...t, 'output.weight': t['token_embd.weight'] };
      const tokens = raw.map((v) => v % config.vocabSize);
      expect(referenceLogits({ ...tied, tieEmbeddings: false }, untied, tokens)).toEqual(referenceLogits(tied, t, tokens));
    }), { numRuns: 10 });
  });

  it('logits are not flat and stay O(1..10) on random models', () => {
    fc.assert(fc.property(model, fc.array(fc.nat(), { minLength: 1, maxLength: 8 }), ({ config, seed }, raw) => {
      const logits = referenceLastLogits(config, randomTensors(config, seed), raw.map((v) => v % config.vocabSize));
      const max = Math.max(...logits);
      const min = Math.min(...logits);
      expect(max - min).toBeGreaterThan(0.5);
      expect(Math.max(max, -min)).toBeLessThan(60);
    }), { numRuns: 20, ...seeded(187) });
  });
});

describe('half-precision encodings', () => {
  it('bf16 and f16 encode(decode(bits)) = bits for every finite pattern', () => {
    const mismatches: string[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const b = bf16ToF32(bits);
      if (Number.isFinite(b) && f32ToBf16(b) !== bits) mismatches.push(`bf16 ${bits.toString(16)}`);
      const h = f16ToF32(bits);
      if (Number.isFinite(h) && f32ToF16(h) !== bits) mismatches.push(`f16 ${bits.toString(16)}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('round to nearest even', () => {
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80);            // halfway, even stays
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82);        // halfway, odd rounds up
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00);
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f16ToF32(0x3555)).toBeCloseTo(1 / 3, 3);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
  });

  it('a model read from bf16/f16 bits equals the f32 model with rounded values, bit for bit', () => {
    const which = fc.constantFrom('2d' as const, 'all' as const);
    fc.assert(fc.property(model, fc.constantFrom('bf16' as const, 'f16' as const), which, ({ config, seed }, dtype, w) => {
      const t = randomTensors(config, seed);
      const tokens = [0, config.vocabSize - 1, 1];
      const encoded = referenceLogits(config, encodeTensors(t, dtype, w), tokens);
      expect(encoded).toEqual(referenceLogits(config, roundTensors(t, dtype, w), tokens));
      expect(encoded).not.toEqual(referenceLogits(config, t, tokens));
    }), { numRuns: 10 });
  });
});
