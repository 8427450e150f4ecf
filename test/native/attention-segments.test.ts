// A long row's keys in segments of 1,024 positions (native/src/attention.h, kSegmentKeys):
// each segment's online softmax starts afresh and the partials are folded in segment order,
// in one task or, for a long row beside short ones, as tasks on several threads folded
// after. A prompt of 2,100 tokens (three segments) checked against the plain-TS reference
// (f64, no segments), and bitwise the same whole, in chunks, decoded one token per step
// beside other sequences, on 1 or 2 threads, with the segments forced into tasks or walked
// inline (NANO_SERVING_ATTENTION_SEGMENTS), on every kernel path; with a sliding window too
// (a row whose first segment is not 0).
import { afterEach, describe, expect, it } from 'vitest';
import { NativeExecutor } from '../../src/executor/native.js';
import type { ModelConfig, TensorMap } from '../../src/models/config.js';
import type { KernelName, KvDtype } from '../../src/native/binding.js';
import { referenceLastLogits } from '../reference/forward.js';
import { randomTensors } from '../reference/tensors.js';
import { KERNELS } from './cpu.js';
import { GREEDY, runSteps, type Run } from './steps.js';

const LONG: ModelConfig = {
  family: 'llama', vocabSize: 96, hiddenSize: 48, numLayers: 1, numHeads: 4, numKvHeads: 2, headDim: 12,
  intermediateSize: 64, contextLength: 2200, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: false, qkvBias: false,
};
// Two layers, the second with a 1,000-key window: its last rows attend segments 1 and 2 only.
const WINDOWED: ModelConfig = { ...LONG, numLayers: 2, layerWindow: [0, 1000] };
const PAGE = 16;
const PROMPT = 2100;

/** Random weights with the queries scaled up, so the scores (and each segment's max) differ widely across the context. */
function weights(config: ModelConfig): TensorMap {
  const t = randomTensors(config, 11);
  for (let l = 0; l < config.numLayers; l++) {
    const q = t[`blk.${l}.attn_q.weight`];
    if (q.dtype !== 'f32') throw new Error('f32 weights expected');
    for (let i = 0; i < q.data.length; i++) q.data[i] *= 6;
  }
  return t;
}

const open: NativeExecutor[] = [];
afterEach(() => { while (open.length) open.pop()!.close(); });

interface Setup { config: ModelConfig; tensors: TensorMap; kernel: KernelName; numThreads: number; kvDtype: KvDtype; segments?: 'tasks' | 'inline' }

const ENV = ['NANO_SERVING_ATTENTION_SEGMENTS', 'NANO_SERVING_SPLIT'] as const;

/** An executor; `segments` and the layer split (else 1 thread runs whole sequences, segments inline) go through the environment. */
function executor(s: Setup): NativeExecutor {
  const before = ENV.map((name) => process.env[name]);
  const want = [s.segments, s.segments === 'tasks' ? 'layers' : undefined];
  ENV.forEach((name, i) => { if (want[i] === undefined) delete process.env[name]; else process.env[name] = want[i]; });
  try {
    const ex = NativeExecutor.create({
      config: s.config, tensors: s.tensors, numPages: 200, pageSize: PAGE, numThreads: s.numThreads, maxBatchTokens: 1024, maxSeqs: 4,
      kernel: s.kernel, kvDtype: s.kvDtype,
    });
    open.push(ex);
    return ex;
  } finally {
    ENV.forEach((name, i) => { if (before[i] === undefined) delete process.env[name]; else process.env[name] = before[i]; });
  }
}

const prompt = (n: number, salt: number): number[] => Array.from({ length: n }, (_, i) => (i * 37 + salt * 11 + 5) % 90);
const pages = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);
const run = (seq: number, tokens: number[], startPos: number, pageIds: number[]): Run => ({ seq, tokens, startPos, pages: pageIds, isSampled: true, sampling: GREEDY });
const TABLE = pages(10, Math.ceil(PROMPT / PAGE));

/** Last logits of the prompt fed alone in chunks of `chunk`. */
async function chunked(ex: NativeExecutor, tokens: number[], chunk: number): Promise<number[]> {
  let logits: Float32Array = new Float32Array(0);
  for (let at = 0; at < tokens.length; at += chunk) {
    const [row] = await runSteps(ex, [[run(0, tokens.slice(at, at + chunk), at, TABLE)]], LONG.vocabSize);
    logits = row.logits;
  }
  return Array.from(logits);
}

/** Last logits with the prompt's last 3 tokens decoded one per step, each beside two short sequences (one group of rows). */
async function decodedInBatch(ex: NativeExecutor, tokens: number[]): Promise<number[]> {
  await chunked(ex, tokens.slice(0, PROMPT - 3), 1024);
  let last: Float32Array = new Float32Array(0);
  for (let at = PROMPT - 3; at < PROMPT; at++) {
    const rows = await runSteps(ex, [[run(1, prompt(5, at), 0, [0]), run(0, [tokens[at]], at, TABLE), run(2, prompt(9, at), 0, [1])]], LONG.vocabSize);
    last = rows[1].logits;
  }
  return Array.from(last);
}

/**
 * Threads and segment walks: forced into tasks (with the layer split, so 1 thread runs them
 * too), inline, or by the step's work (on 2 threads: tasks for a long row beside short ones;
 * 1 thread runs each sequence whole on these small weights, its segments inline).
 */
const SPLITS: Array<[number, 'tasks' | 'inline' | undefined]> = [[1, 'tasks'], [1, 'inline'], [1, undefined], [2, 'tasks'], [2, 'inline'], [2, undefined]];

describe('attention over key segments', () => {
  const tokens = prompt(PROMPT, 1);

  it('a prompt of three segments matches the reference, and its bits hold across chunking, batching, threads and task splits', async () => {
    const tensors = weights(LONG);
    const ref = referenceLastLogits(LONG, tensors, tokens);
    let scale = 0;
    for (const v of ref) scale = Math.max(scale, Math.abs(v));
    const base = { config: LONG, tensors, kvDtype: 'f32' as KvDtype };
    for (const kernel of KERNELS) {
      // The GEMMs of the paths round differently: each path against its own whole prefill.
      const whole = await chunked(executor({ ...base, kernel, numThreads: 1, segments: 'inline' }), tokens, 1024);
      let worst = 0;
      for (let i = 0; i < LONG.vocabSize; i++) worst = Math.max(worst, Math.abs(whole[i] - ref[i]));
      expect(worst, `${kernel}: max |native - reference| against logits up to ${scale}`).toBeLessThan(1e-4 * (1 + scale));
      const cases = kernel === 'auto' ? SPLITS : SPLITS.filter(([t, segments]) => (t === 1) === (segments === 'tasks'));
      for (const [numThreads, segments] of cases) {
        const ex = executor({ ...base, kernel, numThreads, segments });
        const where = `${kernel}, ${numThreads} threads, segments ${segments ?? 'by cost'}`;
        expect(await decodedInBatch(ex, tokens), `${where}: decoded beside others`).toEqual(whole);
        if (kernel === 'auto' && numThreads === 2 && !segments) expect(await chunked(ex, tokens, 16), `${where}: chunks of 16`).toEqual(whole);
      }
    }
  });

  it('with a sliding window, and 16-bit KV, the same bits whole, in chunks, decoded, split or not', async () => {
    const tensors = weights(WINDOWED);
    for (const kvDtype of ['f32', 'bf16'] as const) {
      const base = { config: WINDOWED, tensors, kvDtype };
      const whole = await chunked(executor({ ...base, kernel: 'auto', numThreads: 1, segments: 'inline' }), tokens, 1024);
      for (const [numThreads, segments] of [[1, 'tasks'], [2, undefined]] as const) {
        const ex = executor({ ...base, kernel: 'auto', numThreads, segments });
        const where = `${kvDtype}, ${numThreads} threads, segments ${segments ?? 'by cost'}`;
        expect(await chunked(ex, tokens, 700), `${where}: chunks of 700`).toEqual(whole);
        expect(await decodedInBatch(ex, tokens), `${where}: decoded beside others`).toEqual(whole);
      }
    }
  });

  it('refuses an unknown NANO_SERVING_ATTENTION_SEGMENTS', () => {
    process.env.NANO_SERVING_ATTENTION_SEGMENTS = 'sometimes';
    try {
      expect(() => NativeExecutor.create({ config: LONG, tensors: randomTensors(LONG, 1), numPages: 4, pageSize: PAGE, numThreads: 1, maxBatchTokens: 16, maxSeqs: 1 }))
        .toThrow(/NANO_SERVING_ATTENTION_SEGMENTS must be 'tasks' or 'inline'/);
    } finally {
      delete process.env.NANO_SERVING_ATTENTION_SEGMENTS;
    }
  });
});
