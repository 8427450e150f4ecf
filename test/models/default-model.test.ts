/**
 * The embedded default model (src/models/default) on the native executor: its greedy text
 * is stable, and it predicts held-out KJV text far better than untrained weights of its shape.
 * Reference numbers (fixtures/default-reference.json) come from tools/train/train.py:
 * PyTorch, the same bf16 weights, f32 compute.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NativeExecutor } from '../../src/executor/native.js';
import type { StepInput } from '../../src/executor/step.js';
import type { TensorMap } from '../../src/models/config.js';
import { loadHfModel, type HfModel } from '../../src/models/hf.js';

const root = join(import.meta.dirname, '..', '..');
const reference = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'default-reference.json'), 'utf8')) as {
  ids: number[]; meanNll: number; prompt: number[]; greedy: number[];
};
const PAGE = 16;
const NUM_PAGES = 32; // 512 tokens: the whole context

/** One sequence (pages 0..n-1) running `tokens` from `start`, its last token sampled greedily. */
function step(tokens: number[], start: number): StepInput {
  const numPages = Math.ceil((start + tokens.length) / PAGE);
  return {
    tokens: Int32Array.from(tokens),
    positions: Int32Array.from(tokens, (_, i) => start + i),
    seqStart: Int32Array.from([0, tokens.length]),
    pageTable: Int32Array.from({ length: numPages }, (_, i) => i),
    pageStart: Int32Array.from([0, numPages]),
    isSampled: Uint8Array.of(1),
    temperature: Float32Array.of(0), topK: Int32Array.of(0), topP: Float32Array.of(1), minP: Float32Array.of(0), seed: Float64Array.of(0),
    presencePenalty: Float32Array.of(0), frequencyPenalty: Float32Array.of(0), repetitionPenalty: Float32Array.of(1),
    historyTokens: new Int32Array(0), historyStart: new Int32Array(2), historyPromptLen: new Int32Array(1),
    numTopLogprobs: Int32Array.of(0),
    returnLogits: true,
  };
}

function executor(model: HfModel, tensors: TensorMap): NativeExecutor {
  return NativeExecutor.create({
    config: model.config, tensors, weightDtype: 'bf16', numPages: NUM_PAGES, pageSize: PAGE, numThreads: 2,
    maxBatchTokens: 64, maxSeqs: 1,
  });
}

/** Untrained weights of the same shapes, as train.py initializes them: norms 1, the rest ~ N(0, 0.02). */
function untrained(tensors: TensorMap, seed: number): TensorMap {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 2 ** 32;
  };
  const normal = (): number => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  const out: TensorMap = {};
  for (const [name, t] of Object.entries(tensors)) {
    const data = new Float32Array(t.data.length);
    for (let i = 0; i < data.length; i++) data[i] = name.endsWith('norm.weight') ? 1 : 0.02 * normal();
    out[name] = { dtype: 'f32', shape: t.shape, data };
  }
  return out;
}

/** Mean negative log-likelihood of ids[1..] given their prefixes, fed one token per step. */
async function meanNll(ex: NativeExecutor, ids: number[], vocab: number): Promise<number> {
  let total = 0;
  for (let pos = 0; pos + 1 < ids.length; pos++) {
    const logits = (await ex.step(step([ids[pos]], pos))).logits!;
    let max = -Infinity;
    for (let v = 0; v < vocab; v++) max = Math.max(max, logits[v]);
    let sum = 0;
    for (let v = 0; v < vocab; v++) sum += Math.exp(logits[v] - max);
    total += max + Math.log(sum) - logits[ids[pos + 1]];
  }
  return total / (ids.length - 1);
}

async function greedy(ex: NativeExecutor, prompt: number[], numTokens: number): Promise<number[]> {
  const out: number[] = [];
  let next = (await ex.step(step(prompt, 0))).tokens[0];
  for (let pos = prompt.length; out.push(next) < numTokens; pos++) next = (await ex.step(step([next], pos))).tokens[0];
  return out;
}

describe('the default model on the native executor', () => {
  let model: HfModel;
  let trained: NativeExecutor;
  beforeAll(async () => {
    model = await loadHfModel(join(root, 'src', 'models', 'default'));
    trained = executor(model, model.tensors);
  });
  afterAll(() => trained?.close());

  it('writes the same greedy continuation of a fixed prompt as PyTorch did', async () => {
    const prompt = model.tokenizer.encode('<|endoftext|>Genesis 50\nAnd Joseph fell upon');
    expect(prompt).toEqual(reference.prompt);
    const tokens = await greedy(trained, prompt, 48);
    expect(model.tokenizer.decode(tokens)).toBe(
      ' his face, and bowed himself to his face, and said, Behold, I am in the midst of the sea, and I am in the midst of the sea.\nAnd he said, This is the',
    );
    expect(tokens).toEqual(reference.greedy);
  });

  it('has a held-out perplexity near PyTorch\'s and far below untrained weights of the same shape', async () => {
    const ids = reference.ids; // the first 256 held-out tokens (Genesis 50)
    expect(model.tokenizer.decode(ids).startsWith('<|endoftext|>Genesis 50\nAnd Joseph fell upon his father\'s face')).toBe(true);
    const nll = await meanNll(trained, ids, model.config.vocabSize);
    const random = executor(model, untrained(model.tensors, 7));
    const randomNll = await meanNll(random, ids, model.config.vocabSize).finally(() => random.close());
    console.log(`default model perplexity ${Math.exp(nll).toFixed(3)} (PyTorch ${Math.exp(reference.meanNll).toFixed(3)}), untrained weights ${Math.exp(randomNll).toFixed(1)} (uniform: ${model.config.vocabSize})`);
    expect(Math.abs(nll - reference.meanNll)).toBeLessThan(0.01);
    expect(Math.exp(nll)).toBeLessThan(10);
    expect(Math.exp(randomNll)).toBeGreaterThan(500);
  });
});
