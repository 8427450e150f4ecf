import { describe, it, expect, afterEach } from 'vitest';
import { NativeExecutor } from '../../src/executor/native.js';
import type { StepInput } from '../../src/executor/step.js';
import type { ModelConfig } from '../../src/models/config.js';
import { presetConfig } from '../../src/models/presets.js';
import { syntheticTensors } from '../../src/models/synthetic.js';

interface SeqSpec {
  tokens: number[];
  start: number;
  pages: number[];
  sampled?: boolean;
  temperature?: number;
  seed?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  numTop?: number;
}

function stepInput(seqs: SeqSpec[], returnLogits = false): StepInput {
  const per = <T>(f: (s: SeqSpec) => T): T[] => seqs.map(f);
  const offsets = (lengths: number[]): Int32Array => Int32Array.from([0, ...lengths.map((_, i) => lengths.slice(0, i + 1).reduce((a, b) => a + b, 0))]);
  return {
    tokens: Int32Array.from(seqs.flatMap((s) => s.tokens)),
    positions: Int32Array.from(seqs.flatMap((s) => s.tokens.map((_, i) => s.start + i))),
    seqStart: offsets(per((s) => s.tokens.length)),
    pageTable: Int32Array.from(seqs.flatMap((s) => s.pages)),
    pageStart: offsets(per((s) => s.pages.length)),
    isSampled: Uint8Array.from(per((s) => (s.sampled === false ? 0 : 1))),
    temperature: Float32Array.from(per((s) => s.temperature ?? 0)),
    topK: Int32Array.from(per((s) => s.topK ?? 0)),
    topP: Float32Array.from(per((s) => s.topP ?? 1)),
    minP: Float32Array.from(per((s) => s.minP ?? 0)),
    seed: Float64Array.from(per((s) => s.seed ?? 0)),
    presencePenalty: new Float32Array(seqs.length),
    frequencyPenalty: new Float32Array(seqs.length),
    repetitionPenalty: new Float32Array(seqs.length).fill(1),
    historyTokens: new Int32Array(0),
    historyStart: new Int32Array(seqs.length + 1),
    historyPromptLen: new Int32Array(seqs.length),
    numTopLogprobs: Int32Array.from(per((s) => s.numTop ?? 0)),
    returnLogits,
  };
}

const LLAMA: ModelConfig = {
  family: 'llama', vocabSize: 500, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16,
  intermediateSize: 96, contextLength: 256, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: false, qkvBias: false,
};

const open: NativeExecutor[] = [];
afterEach(() => { while (open.length) open.pop()!.close(); });

function executor(config: ModelConfig, opts: { seed?: number; kernel?: 'auto' | 'portable'; weightDtype?: 'f32' | 'bf16'; numThreads?: number; pageSize?: number } = {}): NativeExecutor {
  const ex = NativeExecutor.create({
    config, tensors: syntheticTensors(config, opts.seed ?? 1), numPages: 32, pageSize: opts.pageSize ?? 8, numThreads: opts.numThreads ?? 2,
    maxBatchTokens: 128, maxSeqs: 8, kernel: opts.kernel, weightDtype: opts.weightDtype,
  });
  open.push(ex);
  return ex;
}

const prompt = (n: number, salt = 0): number[] => Array.from({ length: n }, (_, i) => (i * 37 + salt * 11 + 5) % 250);

describe('native executor smoke', () => {
  it('runs tiny (gpt2) prefill then decode with sane outputs', async () => {
    const ex = executor(presetConfig('tiny'));
    expect(ex.nativeInfo().numThreads).toBe(2);
    const p = prompt(20);
    const out = await ex.step(stepInput([{ tokens: p, start: 0, pages: [0, 1, 2], numTop: 5 }]));
    expect(out.tokens.length).toBe(1);
    expect(out.tokens[0]).toBeGreaterThanOrEqual(0);
    expect(out.tokens[0]).toBeLessThan(256);
    expect(out.topK).toBe(5);
    expect(out.topIds[0]).toBe(out.tokens[0]);
    expect(out.topLogprobs[0]).toBe(out.logprobs[0]);
    expect(out.logprobs[0]).toBeLessThanOrEqual(0);
    for (let j = 1; j < 5; j++) expect(out.topLogprobs[j]).toBeLessThanOrEqual(out.topLogprobs[j - 1]);
    const next = await ex.step(stepInput([{ tokens: [out.tokens[0]], start: 20, pages: [0, 1, 2] }]));
    expect(next.tokens.length).toBe(1);
    expect(next.topK).toBe(0);
  });

  for (const [name, patch] of [['neox', {}], ['adjacent rope + qkv bias + tied', { ropeNeox: false, qkvBias: true, tieEmbeddings: true }]] as const) {
    it(`llama (${name}): greedy is deterministic and chunking/batching do not change logits`, async () => {
      const config = { ...LLAMA, ...patch };
      const a = executor(config);
      const p = prompt(21);
      const whole = await a.step(stepInput([{ tokens: p, start: 0, pages: [0, 1, 2] }], true));
      const b = executor(config);
      await b.step(stepInput([{ tokens: p.slice(0, 9), start: 0, pages: [4, 5], sampled: false }]));
      const chunked = await b.step(stepInput([
        { tokens: prompt(5, 3), start: 0, pages: [9] },
        { tokens: p.slice(9), start: 9, pages: [4, 5, 6] },
      ], true));
      expect(chunked.tokens[1]).toBe(whole.tokens[0]);
      expect(Array.from(chunked.logits!.subarray(config.vocabSize))).toEqual(Array.from(whole.logits!));
    });
  }

  it('16-slot pages: chunked prefill over several pages matches the whole prompt bitwise', async () => {
    const p = prompt(45);
    const whole = await executor(LLAMA, { pageSize: 16 }).step(stepInput([{ tokens: p, start: 0, pages: [3, 7, 1] }], true));
    const b = executor(LLAMA, { pageSize: 16 });
    await b.step(stepInput([{ tokens: p.slice(0, 20), start: 0, pages: [5, 2], sampled: false }]));
    const rest = await b.step(stepInput([{ tokens: p.slice(20), start: 20, pages: [5, 2, 9] }], true));
    expect(Array.from(rest.logits!)).toEqual(Array.from(whole.logits!));
  });

  it('logprobs are the log-softmax of the raw logits; penalties change the choice but not the logits', async () => {
    const ex = executor(LLAMA);
    const base = stepInput([{ tokens: prompt(11), start: 0, pages: [0, 1], numTop: 4 }], true);
    const plain = await ex.step(base);
    const logits = Array.from(plain.logits!);
    const max = Math.max(...logits);
    const lse = max + Math.log(logits.reduce((a, x) => a + Math.exp(x - max), 0));
    expect(plain.logprobs[0]).toBeCloseTo(logits[plain.tokens[0]] - lse, 4);
    for (let j = 0; j < 4; j++) expect(plain.topLogprobs[j]).toBeCloseTo(logits[plain.topIds[j]] - lse, 4);
    const greedy = plain.tokens[0];
    const penalized = { ...base, repetitionPenalty: Float32Array.from([50]), historyTokens: Int32Array.from([greedy, 3]),
      historyStart: Int32Array.from([0, 2]), historyPromptLen: Int32Array.from([2]) };
    const out = await ex.step(penalized);
    expect(out.tokens[0]).not.toBe(greedy);
    expect(Array.from(out.logits!)).toEqual(logits);
    expect(out.logprobs[0]).toBeCloseTo(logits[out.tokens[0]] - lse, 4);
    const presence = { ...penalized, repetitionPenalty: Float32Array.from([1]), presencePenalty: Float32Array.from([100]), historyPromptLen: Int32Array.from([0]) };
    expect((await ex.step(presence)).tokens[0]).not.toBe(greedy);
    const promptOnly = { ...presence, historyPromptLen: Int32Array.from([2]) };  // presence counts output tokens only
    expect((await ex.step(promptOnly)).tokens[0]).toBe(greedy);
  });

  it('top-p sampling stays inside the nucleus', async () => {
    const ex = executor(LLAMA);
    const base = stepInput([{ tokens: prompt(9), start: 0, pages: [0, 1] }], true);
    const logits = Array.from((await ex.step(base)).logits!);
    const max = Math.max(...logits);
    const probs = logits.map((x) => Math.exp(x - max));
    const total = probs.reduce((a, b) => a + b, 0);
    const order = probs.map((q, id) => ({ q: q / total, id })).sort((a, b) => b.q - a.q || a.id - b.id);
    const nucleus = new Set<number>();
    let mass = 0;
    for (const { q, id } of order) { nucleus.add(id); mass += q; if (mass >= 0.5) break; }
    for (let seed = 0; seed < 30; seed++) {
      const out = await ex.step({ ...base, temperature: Float32Array.from([1]), topP: Float32Array.from([0.5]), seed: Float64Array.from([seed]) });
      expect(nucleus.has(out.tokens[0])).toBe(true);
    }
  });

  it('seeded sampling is reproducible and independent of the batch', async () => {
    const ex = executor(LLAMA);
    const spec: SeqSpec = { tokens: prompt(10), start: 0, pages: [0, 1], temperature: 1.5, seed: 1234, topP: 0.95, topK: 50, minP: 0.01 };
    const alone = await ex.step(stepInput([spec]));
    const again = await ex.step(stepInput([{ ...spec, pages: [2, 3] }]));
    const batched = await ex.step(stepInput([{ tokens: prompt(7, 2), start: 0, pages: [5], temperature: 0.7, seed: 9 }, { ...spec, pages: [6, 7] }]));
    expect(again.tokens[0]).toBe(alone.tokens[0]);
    expect(batched.tokens[1]).toBe(alone.tokens[0]);
    const seen = new Set<number>();
    for (let seed = 0; seed < 16; seed++) seen.add((await ex.step(stepInput([{ ...spec, temperature: 3, seed, topK: 0, topP: 1, minP: 0 }]))).tokens[0]);
    expect(seen.size).toBeGreaterThan(1);
  });

  it('top-k 1 and tiny top-p reduce sampling to greedy', async () => {
    const ex = executor(LLAMA);
    const base: SeqSpec = { tokens: prompt(12), start: 0, pages: [0, 1] };
    const greedy = (await ex.step(stepInput([base]))).tokens[0];
    expect((await ex.step(stepInput([{ ...base, temperature: 2, seed: 5, topK: 1 }]))).tokens[0]).toBe(greedy);
    expect((await ex.step(stepInput([{ ...base, temperature: 1, seed: 5, topP: 1e-6 }]))).tokens[0]).toBe(greedy);
    expect((await ex.step(stepInput([{ ...base, temperature: 1, seed: 5, minP: 1 }]))).tokens[0]).toBe(greedy);
  });

  it('portable and bf16 kernels run, agree closely with the default, and stay batch invariant', async () => {
    const p = prompt(17);
    const solo = stepInput([{ tokens: p, start: 0, pages: [0, 1, 2] }], true);
    const pair = stepInput([{ tokens: prompt(3, 1), start: 0, pages: [8] }, { tokens: p, start: 0, pages: [3, 4, 5] }], true);
    const ref = await executor(LLAMA).step(solo);
    for (const opts of [{ kernel: 'portable' as const }, { weightDtype: 'bf16' as const }, { kernel: 'portable' as const, weightDtype: 'bf16' as const }]) {
      const ex = executor(LLAMA, opts);
      if (opts.kernel) expect(ex.nativeInfo().kernel).toBe('portable');
      const one = await ex.step(solo);
      const two = await ex.step(pair);
      expect(Array.from(two.logits!.subarray(LLAMA.vocabSize))).toEqual(Array.from(one.logits!));
      const tol = opts.weightDtype === 'bf16' ? 0.1 : 1e-3;
      for (let i = 0; i < LLAMA.vocabSize; i++) expect(Math.abs(one.logits![i] - ref.logits![i])).toBeLessThan(tol);
    }
  });

  it('two executors in one process do not interfere', async () => {
    const a = executor(LLAMA, { seed: 1 });
    const b = executor(LLAMA, { seed: 2 });
    const input = stepInput([{ tokens: prompt(9), start: 0, pages: [0, 1] }], true);
    const a1 = await a.step(input);
    const [a2, b1] = await Promise.all([a.step(input), b.step(input)]);
    expect(Array.from(a2.logits!)).toEqual(Array.from(a1.logits!));
    expect(Array.from(b1.logits!)).not.toEqual(Array.from(a1.logits!));
  });

  it('runs on one thread with the same logits as on two', async () => {
    const input = stepInput([{ tokens: prompt(13), start: 0, pages: [0, 1] }], true);
    const one = await executor(LLAMA, { numThreads: 1 }).step(input);
    const two = await executor(LLAMA, { numThreads: 2 }).step(input);
    expect(Array.from(one.logits!)).toEqual(Array.from(two.logits!));
  });
});
