/**
 * stepSync: the step computed on the JS thread. Whatever mix of step() and stepSync() a caller
 * uses, every result has the bits of step() alone; it checks and refuses exactly what step()
 * does, thrown instead of rejected, and refuses deferred token masks by name.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ExecutorError } from '../../src/errors.js';
import { NativeExecutor } from '../../src/executor/native.js';
import type { StepInput, StepOutput } from '../../src/executor/step.js';
import { syntheticTensors } from '../../src/models/synthetic.js';
import { greedyParams } from '../../bench/greedy-params.js';
import { expectSameBits, LAYERED_CONFIG } from './steps.js';

const CONFIG = LAYERED_CONFIG;
const PAGE = 16;

const open: NativeExecutor[] = [];
afterEach(() => { while (open.length) open.pop()!.close(); });

function executor(decodeAhead = false): NativeExecutor {
  const ex = NativeExecutor.create({ config: CONFIG, tensors: syntheticTensors(CONFIG, 5), numPages: 8, pageSize: PAGE, numThreads: 2, maxBatchTokens: 16, maxSeqs: 2, decodeAhead });
  open.push(ex);
  return ex;
}

interface Run { id: number; tokens: number[]; start: number; pages: number[]; temperature?: number; seed?: number; repetitionPenalty?: number; isNew?: boolean }

/** A step of kept sequences (seqIds): whole page tables each time (pageKeep 0), penalties counted by the executor. */
function stepOf(runs: Run[]): StepInput {
  const n = runs.length;
  const offsets = (lens: number[]): Int32Array => Int32Array.from([0, ...lens.map((_, i) => lens.slice(0, i + 1).reduce((a, b) => a + b, 0))]);
  return {
    ...greedyParams(n),
    tokens: Int32Array.from(runs.flatMap((r) => r.tokens)), positions: Int32Array.from(runs.flatMap((r) => r.tokens.map((_, i) => r.start + i))),
    seqStart: offsets(runs.map((r) => r.tokens.length)), pageTable: Int32Array.from(runs.flatMap((r) => r.pages)), pageStart: offsets(runs.map((r) => r.pages.length)),
    isSampled: new Uint8Array(n).fill(1), temperature: Float32Array.from(runs.map((r) => r.temperature ?? 0)), seed: Float64Array.from(runs.map((r) => r.seed ?? 0)),
    repetitionPenalty: Float32Array.from(runs.map((r) => r.repetitionPenalty ?? 1)),
    historyTokens: new Int32Array(0), historyStart: new Int32Array(n + 1), historyPromptLen: Int32Array.from(runs.map((r) => (r.isNew ? r.tokens.length : 0))),
    seqIds: Int32Array.from(runs.map((r) => r.id)), seqIsNew: Uint8Array.from(runs.map((r) => (r.isNew ? 1 : 0))), pageKeep: new Int32Array(n),
    returnLogits: true,
  };
}

/** Two sequences: prompts, then decodes of both (one sampled and penalized), then one alone. */
function script(outs: StepOutput[], i: number): StepInput | undefined {
  const a = (start: number, token: number): Run => ({ id: 1, tokens: [token], start, pages: [0, 1] });
  const b = (start: number, token: number): Run => ({ id: 2, tokens: [token], start, pages: [4, 5], temperature: 0.8, seed: 11, repetitionPenalty: 1.3 });
  if (i === 0) return stepOf([{ id: 1, tokens: [3, 4, 5], start: 0, pages: [0, 1], isNew: true }]);
  if (i === 1) return stepOf([a(3, outs[0].tokens[0]), { ...b(0, 0), tokens: [7, 8], isNew: true }]);
  if (i < 12) return stepOf([a(i + 2, outs[i - 1].tokens[0]), b(i, outs[i - 1].tokens[1])]);
  if (i < 24) return stepOf([a(i + 2, outs[i - 1].tokens[0])]);
  return undefined;
}

async function runScript(ex: NativeExecutor, isSync: (i: number) => boolean): Promise<StepOutput[]> {
  const outs: StepOutput[] = [];
  for (let i = 0, input = script(outs, 0); input; input = script(outs, ++i)) {
    outs.push(isSync(i) ? ex.stepSync(input) : await ex.step(input));
  }
  return outs;
}

describe('stepSync', () => {
  it('gives the bits of step(), alone or mixed with step() on one executor (kept sequences, sampling, penalties)', async () => {
    const plain = await runScript(executor(), () => false);
    expectSameBits(await runScript(executor(), () => true), plain);
    expectSameBits(await runScript(executor(), (i) => i % 3 === 1), plain);
  });

  it('takes a step computed ahead, or drops it, with the same bits (decodeAhead)', async () => {
    const plain = await runScript(executor(), () => false);
    const ex = executor(true);
    ex.stepProfile(true);
    expectSameBits(await runScript(ex, (i) => i >= 12 && i % 2 === 0), plain);  // single-stream steps alternate
    const p = ex.stepProfile(false);
    expect(p.numAhead + p.numAheadDropped).toBeGreaterThan(0);  // steps ahead happened, and each was taken or dropped
  });

  it('throws what step() rejects with, changes nothing, and the executor keeps serving', async () => {
    const ex = executor();
    const first = stepOf([{ id: 1, tokens: [3, 4, 5], start: 0, pages: [0, 1], isNew: true }]);
    const badToken = { ...first, tokens: Int32Array.of(3, 4, 99999) };
    expect(() => ex.stepSync(badToken)).toThrow(ExecutorError);
    expect(() => ex.stepSync(badToken)).toThrow(expect.objectContaining({ nativeCode: 'ERR_NATIVE_TOKEN' }));
    const notKept = stepOf([{ id: 1, tokens: [9], start: 3, pages: [0, 1] }]);
    expect(() => ex.stepSync(notKept)).toThrow(expect.objectContaining({ nativeCode: 'ERR_NATIVE_SEQ' }));
    const out = ex.stepSync(first);
    expect(out.tokens.length).toBe(1);
    expect((await executor().step(first)).tokens).toEqual(out.tokens);
  });

  it('refuses deferred token masks by name before it changes anything', () => {
    const ex = executor();
    const words = Math.ceil(CONFIG.vocabSize / 32);
    const tokenMask = new Uint32Array(new SharedArrayBuffer(4 * words));
    const maskReady = new Int32Array(new SharedArrayBuffer(4));
    const first = stepOf([{ id: 1, tokens: [3, 4, 5], start: 0, pages: [0, 1], isNew: true }]);
    expect(() => ex.stepSync({ ...first, tokenMask, maskRow: Int32Array.of(0), maskReady })).toThrow(expect.objectContaining({ nativeCode: 'ERR_NATIVE_SYNC' }));
    // Sequence 1 was not started by the refused step: a step that continues it is refused as unknown.
    expect(() => ex.stepSync(stepOf([{ id: 1, tokens: [9], start: 3, pages: [0, 1] }]))).toThrow(expect.objectContaining({ nativeCode: 'ERR_NATIVE_SEQ' }));
    expect(ex.stepSync(first).tokens.length).toBe(1);
  });

  it('refuses while a step() is in flight, and after close()', async () => {
    const ex = executor();
    const first = stepOf([{ id: 1, tokens: [3, 4, 5], start: 0, pages: [0, 1], isNew: true }]);
    const pending = ex.step(first);
    expect(() => ex.stepSync(stepOf([{ id: 2, tokens: [1], start: 0, pages: [4], isNew: true }]))).toThrow(expect.objectContaining({ nativeCode: 'ERR_NATIVE_BUSY' }));
    await pending;
    ex.close();
    expect(() => ex.stepSync(first)).toThrow(expect.objectContaining({ nativeCode: 'ERR_NATIVE_CLOSED' }));
  });
});
