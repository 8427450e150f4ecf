// The q8_0 KV pool (kvDtype 'q8_0'): int8 codes with one f32 scale per block of 32 values
// along head_dim (the last block 16 when head_dim is an odd multiple of 16). Stores quantize
// as a plain TypeScript q8_0 does; the attention stays close to f32's; a long prompt gives
// bitwise the same last logits whole, chunked or decoded in a batch, on every kernel path;
// every path gives the same bits (quantized weights, so the GEMMs agree too); the default
// model's greedy output matches f32 KV's; a head_dim that is not a multiple of 16 is refused.
import { afterEach, describe, expect, it } from 'vitest';
import { NanoServingEngine } from '../../src/engine/engine.js';
import { InvalidRequestError } from '../../src/errors.js';
import { NativeExecutor, type WeightDtype } from '../../src/executor/native.js';
import type { ModelConfig } from '../../src/models/config.js';
import type { KernelName, KvDtype } from '../../src/native/binding.js';
import { loadNative } from '../../src/native/load.js';
import { syntheticTensors } from '../../src/models/synthetic.js';
import { seededRandom } from '../reference/tensors.js';
import { KERNELS } from './cpu.js';
import { GREEDY, runSteps, type Run } from './steps.js';

const gqa = (headDim: number): ModelConfig => ({
  family: 'llama', vocabSize: 200, hiddenSize: 96, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim,
  intermediateSize: 128, contextLength: 640, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: false, qkvBias: false,
});
const PAGE = 16;

const open: NativeExecutor[] = [];
const savedKernel = process.env.NANO_SERVING_KERNEL;
afterEach(() => {
  while (open.length) open.pop()!.close();
  if (savedKernel === undefined) delete process.env.NANO_SERVING_KERNEL;
  else process.env.NANO_SERVING_KERNEL = savedKernel;
});

function executor(config: ModelConfig, kvDtype: KvDtype, kernel: KernelName = 'auto', weightDtype: WeightDtype = 'f32'): NativeExecutor {
  const ex = NativeExecutor.create({
    config, tensors: syntheticTensors(config, 5), weightDtype, numPages: 96, pageSize: PAGE, numThreads: 2, maxBatchTokens: 640, maxSeqs: 8, kernel, kvDtype,
  });
  open.push(ex);
  return ex;
}

const prompt = (n: number, salt: number): number[] => Array.from({ length: n }, (_, i) => (i * 31 + salt * 17 + 1) % 190);
const pages = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);
const run = (seq: number, tokens: number[], startPos: number, pageIds: number[]): Run => ({ seq, tokens, startPos, pages: pageIds, isSampled: true, sampling: GREEDY });

/** Last logits of `tokens` fed in chunks of `chunk` (alone), on pages starting at `firstPage`. */
async function lastLogits(ex: NativeExecutor, config: ModelConfig, tokens: number[], chunk: number, firstPage: number): Promise<Float32Array> {
  const table = pages(firstPage, Math.ceil(tokens.length / PAGE));
  let logits: Float32Array = new Float32Array(0);
  for (let at = 0; at < tokens.length; at += chunk) {
    const [row] = await runSteps(ex, [[run(0, tokens.slice(at, at + chunk), at, table)]], config.vocabSize);
    logits = row.logits;
  }
  return logits;
}

/** q8_0 of each headDim run of x, in plain TypeScript: per block of 32 (the last may be 16), scale amax / 127, code round-half-away(x * (1 / scale)). */
function referenceQ8(x: Float32Array, headDim: number): { codes: Int8Array; scales: Float32Array } {
  const f = Math.fround, nb = Math.ceil(headDim / 32);
  const codes = new Int8Array(x.length), scales = new Float32Array((x.length / headDim) * nb);
  for (let r = 0; r < x.length / headDim; r++) {
    for (let b = 0; b < nb; b++) {
      const from = r * headDim + 32 * b, to = r * headDim + Math.min(headDim, 32 * (b + 1));
      let amax = 0;
      for (let i = from; i < to; i++) amax = Math.max(amax, Math.abs(x[i]));
      const scale = f(amax / 127), inv = scale !== 0 ? f(1 / scale) : 0;
      for (let i = from; i < to; i++) {
        const v = f(x[i] * inv);
        codes[i] = Math.max(-127, Math.min(127, Math.sign(v) * Math.floor(Math.abs(v) + 0.5)));
      }
      scales[r * nb + b] = scale;
    }
  }
  return { codes, scales };
}

const worstDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe("kvDtype 'q8_0'", () => {
  it('stores the codes and scales of a plain TypeScript q8_0, and they give back each value within half a step', () => {
    const rand = seededRandom(11);
    for (const headDim of [16, 32, 48, 64, 128]) {
      const rows = 37;
      const x = new Float32Array(rows * headDim);
      for (let i = 0; i < x.length; i++) x[i] = Math.fround((rand() - 0.5) * 2 ** (Math.floor(rand() * 12) - 6));
      x.fill(0, 0, Math.min(32, headDim));                           // an all-zero block: scale 0, codes 0
      for (let i = 0; i < headDim; i++) x[headDim + i] = i % 3 === 0 ? -2.5 : 1.25;  // amax negative, ties of x * inv
      x[2 * headDim + 5] = 1e-30;                                   // a subnormal-scale block
      const got = loadNative().quant.kvQ8(x, headDim);
      const want = referenceQ8(x, headDim);
      expect(Array.from(got.codes), `head_dim ${headDim} codes`).toEqual(Array.from(want.codes));
      expect(Buffer.from(got.scales.buffer).equals(Buffer.from(want.scales.buffer)), `head_dim ${headDim} scales`).toBe(true);
      const nb = Math.ceil(headDim / 32);
      for (let i = 0; i < x.length; i++) {
        const scale = got.scales[Math.floor(i / headDim) * nb + Math.floor((i % headDim) / 32)];
        expect(Math.abs(x[i] - got.codes[i] * scale), `value ${i}`).toBeLessThanOrEqual(scale * 0.5000001);
      }
    }
    expect(() => loadNative().quant.kvQ8(new Float32Array(48), 24)).toThrow(/multiple of 16/);
  });

  it('takes 1 + 4 / 32 bytes a value (head_dim 32), 1 + 8 / 48 (head_dim 48), and stays close to f32', async () => {
    // Measured on this synthetic model (40-token prompt, last logits, |logit| up to 2.7-2.9): worst |diff|
    // 0.0134 (head_dim 32) / 0.0115 (48) against bf16's 0.0032 / 0.0051; the bound leaves ~2x.
    for (const headDim of [32, 48]) {
      const config = gqa(headDim), p = prompt(40, 1);
      const f32 = executor(config, 'f32'), q8 = executor(config, 'q8_0'), bf16 = executor(config, 'bf16');
      const nb = Math.ceil(headDim / 32);
      expect(q8.nativeInfo().kvBytes).toBe((f32.nativeInfo().kvBytes / 4) * ((headDim + 4 * nb) / headDim));
      const ref = await lastLogits(f32, config, p, 40, 0);
      const got = await lastLogits(q8, config, p, 40, 0);
      const worst = worstDiff(got, ref), worstBf16 = worstDiff(await lastLogits(bf16, config, p, 40, 0), ref);
      expect(worst, `head_dim ${headDim} (bf16: ${worstBf16})`).toBeLessThan(0.03);
      expect(worst, 'q8_0 actually quantizes the pool').toBeGreaterThan(0);
    }
  });

  it('a 600-token prompt: whole, chunks of 16 or 7, and one token per step in a batch agree bitwise, on every path', async () => {
    const config = gqa(48), p = prompt(600, 2);
    for (const kernel of KERNELS) {
      const ex = executor(config, 'q8_0', kernel);
      const whole = await lastLogits(ex, config, p, 600, 0);
      expect(Array.from(await lastLogits(ex, config, p, 16, 40)), `${kernel} chunks of 16`).toEqual(Array.from(whole));
      expect(Array.from(await lastLogits(ex, config, p, 7, 40)), `${kernel} chunks of 7`).toEqual(Array.from(whole));
      // decode-shaped: the last 24 tokens one per step, beside two other sequences
      await lastLogits(ex, config, p.slice(0, 576), 576, 40);
      const table = pages(40, 38);
      let last: Float32Array = new Float32Array(0);
      for (let at = 576; at < 600; at++) {
        const rows = await runSteps(ex, [[run(1, prompt(3, at), 0, [90]), run(0, [p[at]], at, table), run(2, prompt(5, at), 0, [91])]], config.vocabSize);
        last = rows[1].logits;
      }
      expect(Array.from(last), `${kernel} decode steps in a batch`).toEqual(Array.from(whole));
    }
  });

  it('every forced kernel (NANO_SERVING_KERNEL) gives the same bits, q8_0 weights and q8_0 KV', async () => {
    const config = gqa(48), p = prompt(300, 3);
    const byKernel = new Map<string, Float32Array>();
    for (const kernel of ['portable', ...KERNELS.filter((k) => k === 'avx2' || k === 'avx512')]) {
      process.env.NANO_SERVING_KERNEL = kernel;
      const ex = executor(config, 'q8_0', 'auto', 'q8_0');
      expect(ex.nativeInfo().kernel).toBe(kernel);
      byKernel.set(kernel, await lastLogits(ex, config, p, 13, 0));
    }
    const portable = byKernel.get('portable')!;
    for (const [kernel, logits] of byKernel) {
      expect(Buffer.from(logits.buffer).equals(Buffer.from(portable.buffer)), `${kernel} vs portable (worst ${worstDiff(logits, portable)})`).toBe(true);
    }
    expect(byKernel.size).toBeGreaterThan(1);
  });

  it('the default model, greedy: q8_0 KV gives the tokens of f32 KV until a near tie', async () => {
    const prompts = ['Once upon a time', 'The KV cache holds', 'In a small village there lived', 'A long time ago, in a'];
    const generate = async (kvDtype: KvDtype) => {
      const engine = await NanoServingEngine.create({ model: 'default', kvDtype, threads: 2 });
      try {
        return await engine.generate(prompts, { maxTokens: 64, temperature: 0, ignoreEos: true, logprobs: 2 });
      } finally {
        await engine.close();
      }
    };
    const f32 = await generate('f32'), q8 = await generate('q8_0');
    let agreed = 0;
    for (let i = 0; i < prompts.length; i++) {
      const want = f32[i].tokens, got = q8[i].tokens;
      const at = want.findIndex((t, j) => got[j] !== t);
      if (at < 0) {
        agreed += want.length;
        continue;
      }
      // They part only where f32's top two were within 0.1 nats of each other.
      const top = f32[i].logprobs![at].top!;
      expect(top[0].logprob - top[1].logprob, `prompt ${i} parts at token ${at}`).toBeLessThan(0.1);
      agreed += at;
    }
    // Measured: 3 prompts agree over all 64 tokens, one parts at token 18 (f32's top two 0.017 nats apart): 210 of 256.
    expect(agreed).toBeGreaterThanOrEqual(200);
  }, 120_000);

  it('refuses a head_dim that is not a multiple of 16, by name, with the typed error', async () => {
    const odd = gqa(24);
    expect(() => executor(odd, 'q8_0')).toThrow(InvalidRequestError);
    expect(() => executor(odd, 'q8_0')).toThrow(/kvDtype 'q8_0' needs a head_dim that is a multiple of 16.*got head_dim 24/);
    await expect(NanoServingEngine.create({ model: odd, kvDtype: 'q8_0' })).rejects.toMatchObject({ param: 'kvDtype', code: 'ERR_INVALID_REQUEST' });
    // The addon refuses it too, should a caller skip the TypeScript check.
    const native = loadNative();
    expect(() => new native.Executor(odd, syntheticTensors(odd, 1), { weightDtype: 'f32', numPages: 4, pageSize: PAGE, numThreads: 1, maxBatchTokens: 16, maxSeqs: 1, kvDtype: 'q8_0' }))
      .toThrow(expect.objectContaining({ code: 'ERR_NATIVE_CONFIG', message: expect.stringMatching(/multiple of 16/) }));
    executor(gqa(24), 'bf16');  // other pool types take any head_dim
  });
});
