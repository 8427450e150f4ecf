/** The allowed-token mask in the native sampler: applied before temperature/top-k/top-p, validated like every step array. */
import { afterAll, describe, expect, it } from 'vitest';
import { ExecutorError } from '../../src/errors.js';
import { NativeExecutor } from '../../src/executor/native.js';
import type { StepInput } from '../../src/executor/step.js';
import type { ModelConfig } from '../../src/models/config.js';
import { syntheticTensors } from '../../src/models/synthetic.js';

const VOCAB = 300; // 10 mask words, the last one partly past the vocabulary
const WORDS = Math.ceil(VOCAB / 32);
const CONFIG: ModelConfig = {
  family: 'llama', vocabSize: VOCAB, hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, headDim: 16,
  intermediateSize: 64, contextLength: 64, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: false, qkvBias: false,
};
const executor = NativeExecutor.create({ config: CONFIG, tensors: syntheticTensors(CONFIG, 7), numPages: 8, pageSize: 4, numThreads: 2, maxBatchTokens: 16, maxSeqs: 2 });
afterAll(() => executor.close());

/** Two sampled sequences (prompts of 3 and 2 tokens), greedy and hot. */
function input(temperature: number, seed: number): StepInput {
  return {
    tokens: Int32Array.from([1, 2, 3, 7, 8]), positions: Int32Array.from([0, 1, 2, 0, 1]), seqStart: Int32Array.from([0, 3, 5]),
    pageTable: Int32Array.from([0, 1]), pageStart: Int32Array.from([0, 1, 2]), isSampled: Uint8Array.from([1, 1]),
    temperature: Float32Array.from([temperature, temperature]), topK: Int32Array.from([0, 40]), topP: Float32Array.from([1, 0.9]),
    minP: Float32Array.from([0, 0]), seed: Float64Array.from([seed, seed + 1]), presencePenalty: new Float32Array(2),
    frequencyPenalty: new Float32Array(2), repetitionPenalty: Float32Array.from([1, 1]), historyTokens: new Int32Array(0),
    historyStart: new Int32Array(3), historyPromptLen: new Int32Array(2), numTopLogprobs: Int32Array.from([0, 0]), returnLogits: false,
  };
}

function maskOf(allowed: number[]): Uint32Array {
  const mask = new Uint32Array(WORDS);
  for (const t of allowed) mask[t >> 5] |= 1 << (t & 31);
  return mask;
}

describe('native token masks', () => {
  it('greedy and sampled tokens always come from the mask; an unmasked sequence is untouched', async () => {
    const free = await executor.step(input(0, 1));
    for (const [temperature, seed] of [[0, 1], [0.7, 5], [1.5, 9], [1, 13]]) {
      const allowed = [5, 64, 299, 130 + seed];
      const out = await executor.step({ ...input(temperature, seed), tokenMask: maskOf(allowed), maskRow: Int32Array.from([0, -1]) });
      expect(allowed).toContain(out.tokens[0]);
      if (temperature === 0) expect(out.tokens[1]).toBe(free.tokens[1]);
    }
    const one = await executor.step({ ...input(1, 3), tokenMask: Uint32Array.from([...maskOf([42]), ...maskOf([250])]), maskRow: Int32Array.from([1, 0]) });
    expect(Array.from(one.tokens)).toEqual([250, 42]);
  });

  it.each([
    ['a mask row past the masks', { tokenMask: maskOf([1]), maskRow: Int32Array.from([1, -1]) }, 'ERR_NATIVE_SHAPE'],
    ['a row below -1', { tokenMask: maskOf([1]), maskRow: Int32Array.from([-2, -1]) }, 'ERR_NATIVE_SHAPE'],
    ['a mask of the wrong width', { tokenMask: new Uint32Array(WORDS + 1).fill(1), maskRow: Int32Array.from([0, -1]) }, 'ERR_NATIVE_SHAPE'],
    ['maskRow of the wrong length', { tokenMask: maskOf([1]), maskRow: Int32Array.from([0]) }, 'ERR_NATIVE_SHAPE'],
    ['a mask that allows nothing in the vocabulary', { tokenMask: Uint32Array.from([...new Array(WORDS - 1).fill(0), 0xfffff000]), maskRow: Int32Array.from([0, -1]) }, 'ERR_NATIVE_PARAM'],
    ['a mask of the wrong type', { tokenMask: new Int32Array(WORDS).fill(1), maskRow: Int32Array.from([0, -1]) }, 'ERR_NATIVE_SHAPE'],
  ])('refuses %s', async (_, patch, code) => {
    const error = await executor.step({ ...input(0, 1), ...(patch as Partial<StepInput>) }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutorError);
    expect((error as ExecutorError).nativeCode).toBe(code);
    expect((await executor.step(input(0, 1))).tokens.length).toBe(2); // and the executor goes on
  });

  it('deferred masks: written after step() while the forward pass runs, read once maskReady is 1', async () => {
    const tokenMask = new Uint32Array(new SharedArrayBuffer(WORDS * 4));
    const maskReady = new Int32Array(new SharedArrayBuffer(4));
    const pending = executor.step({ ...input(0.9, 21), tokenMask, maskRow: Int32Array.from([-1, 0]), maskReady });
    await new Promise((resolve) => setTimeout(resolve, 5)); // the step is waiting for its mask
    tokenMask.set(maskOf([77]));
    Atomics.store(maskReady, 0, 1);
    expect((await pending).tokens[1]).toBe(77);
  });

  it('an abandoned deferred mask fails the step (never an unconstrained sample); the executor goes on', async () => {
    const maskReady = new Int32Array(new SharedArrayBuffer(4));
    const pending = executor.step({ ...input(0, 1), tokenMask: new Uint32Array(new SharedArrayBuffer(WORDS * 4)), maskRow: Int32Array.from([0, -1]), maskReady });
    Atomics.store(maskReady, 0, -1);
    const error = await pending.then(() => undefined, (e: unknown) => e);
    expect((error as ExecutorError).nativeCode).toBe('ERR_NATIVE_STEP');
    expect((await executor.step(input(0, 1))).tokens.length).toBe(2);
    const bad = await executor.step({ ...input(0, 1), tokenMask: maskOf([1]), maskRow: Int32Array.from([0, -1]), maskReady: new Int32Array(2) }).then(() => undefined, (e: unknown) => e);
    expect((bad as ExecutorError).nativeCode).toBe('ERR_NATIVE_SHAPE');
  });
});
