// The KV pool's element type (kvDtype) and the tiled attention over long contexts: a
// 16-bit pool takes half the bytes, stays close to f32 and batch invariant on every
// kernel path; a long prompt gives bitwise the same last logits whether prefilled
// whole, in chunks of 16 or 7, or decoded one token per step (blocks of queries share
// K/V pages, yet each row's online softmax runs in one fixed order).
import { afterEach, describe, expect, it } from 'vitest';
import { NanoServingEngine } from '../../src/engine/engine.js';
import { InvalidRequestError } from '../../src/errors.js';
import { NativeExecutor } from '../../src/executor/native.js';
import type { ModelConfig } from '../../src/models/config.js';
import type { KernelName, KvDtype } from '../../src/native/binding.js';
import { syntheticTensors } from '../../src/models/synthetic.js';
import { KERNELS } from './cpu.js';
import { GREEDY, runSteps, type Run } from './steps.js';

const GQA: ModelConfig = {
  family: 'llama', vocabSize: 200, hiddenSize: 96, numLayers: 2, numHeads: 6, numKvHeads: 2, headDim: 16,
  intermediateSize: 128, contextLength: 640, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: false, qkvBias: false,
};
const PAGE = 16;

const open: NativeExecutor[] = [];
afterEach(() => { while (open.length) open.pop()!.close(); });

function executor(kvDtype: KvDtype, kernel: KernelName = 'auto'): NativeExecutor {
  const ex = NativeExecutor.create({
    config: GQA, tensors: syntheticTensors(GQA, 5), numPages: 96, pageSize: PAGE, numThreads: 2, maxBatchTokens: 640, maxSeqs: 8, kernel, kvDtype,
  });
  open.push(ex);
  return ex;
}

const prompt = (n: number, salt: number): number[] => Array.from({ length: n }, (_, i) => (i * 31 + salt * 17 + 1) % 190);
const pages = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);
const run = (seq: number, tokens: number[], startPos: number, pageIds: number[]): Run => ({ seq, tokens, startPos, pages: pageIds, isSampled: true, sampling: GREEDY });

/** Last logits of `tokens` fed in chunks of `chunk` (alone), on pages starting at `firstPage`. */
async function lastLogits(ex: NativeExecutor, tokens: number[], chunk: number, firstPage: number): Promise<Float32Array> {
  const table = pages(firstPage, Math.ceil(tokens.length / PAGE));
  let logits: Float32Array = new Float32Array(0);
  for (let at = 0; at < tokens.length; at += chunk) {
    const [row] = await runSteps(ex, [[run(0, tokens.slice(at, at + chunk), at, table)]], GQA.vocabSize);
    logits = row.logits;
  }
  return logits;
}

describe('kvDtype and tiled attention', () => {
  it('16-bit pools take half the bytes and stay close to f32', async () => {
    const p = prompt(40, 1);
    const ref = await lastLogits(executor('f32'), p, 40, 0);
    const f32Bytes = executor('f32').nativeInfo().kvBytes;
    for (const kvDtype of ['f16', 'bf16'] as const) {
      const ex = executor(kvDtype);
      expect(ex.nativeInfo().kvBytes).toBe(f32Bytes / 2);
      const got = await lastLogits(ex, p, 40, 0);
      const tol = kvDtype === 'f16' ? 2e-3 : 2e-2;
      let worst = 0;
      for (let i = 0; i < GQA.vocabSize; i++) worst = Math.max(worst, Math.abs(got[i] - ref[i]));
      expect(worst, kvDtype).toBeLessThan(tol);
      expect(worst, `${kvDtype} actually rounds the pool`).toBeGreaterThan(0);
    }
  });

  it('a 600-token prompt: whole, chunks of 16 or 7, and one token per step agree bitwise, on every path and pool type', async () => {
    const p = prompt(600, 2);
    for (const kernel of KERNELS) {
      for (const kvDtype of ['f32', 'f16', 'bf16'] as const) {
        const ex = executor(kvDtype, kernel);
        const whole = await lastLogits(ex, p, 600, 0);
        const where = `${kernel} ${kvDtype}`;
        expect(Array.from(await lastLogits(ex, p, 16, 40)), `${where} chunks of 16`).toEqual(Array.from(whole));
        // chunks of 7: the K/V stores' runs of slots start and end inside pages (whole pages above)
        expect(Array.from(await lastLogits(ex, p, 7, 40)), `${where} chunks of 7`).toEqual(Array.from(whole));
        if (kernel === 'auto') {
          // decode-shaped: the last 24 tokens one per step, beside two other sequences
          const prefix = await lastLogits(ex, p.slice(0, 576), 576, 40);
          expect(prefix.length).toBe(GQA.vocabSize);
          const table = pages(40, 38);
          let last: Float32Array = new Float32Array(0);
          for (let at = 576; at < 600; at++) {
            const rows = await runSteps(ex, [[run(1, prompt(3, at), 0, [90]), run(0, [p[at]], at, table), run(2, prompt(5, at), 0, [91])]], GQA.vocabSize);
            last = rows[1].logits;
          }
          expect(Array.from(last), `${where} decode steps in a batch`).toEqual(Array.from(whole));
        }
      }
    }
  });

  it('refuses an unknown kvDtype with a typed error', async () => {
    expect(() => executor('f8' as KvDtype)).toThrow(/kvDtype must be 'f32', 'f16', 'bf16' or 'q8_0'/);
    await expect(NanoServingEngine.create({ model: 'tiny', kvDtype: 'int4' as KvDtype })).rejects.toBeInstanceOf(InvalidRequestError);
  });

  it('an engine serves with a bf16 KV cache', async () => {
    const engine = await NanoServingEngine.create({ model: 'tiny', kvDtype: 'bf16', threads: 1 });
    try {
      const [out] = await engine.generate(['hello there'], { maxTokens: 5, temperature: 0, ignoreEos: true });
      expect(out.tokens.length).toBe(5);
    } finally {
      await engine.close();
    }
  });
});
