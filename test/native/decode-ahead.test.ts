/**
 * Decoding ahead (native/src/decode_ahead.h): the step runner computes a single stream's next
 * step before it is asked for. Whatever the caller does next, every step's result has the bits
 * of an executor that never decodes ahead, and the profile counts the steps taken from ahead.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { NativeExecutor } from '../../src/executor/native.js';
import type { StepInput, StepOutput } from '../../src/executor/step.js';
import { syntheticTensors } from '../../src/models/synthetic.js';
import { greedyParams } from '../../bench/greedy-params.js';
import { expectSameBits, LAYERED_CONFIG } from './steps.js';

const CONFIG = LAYERED_CONFIG;
const PAGE = 16;

const open: NativeExecutor[] = [];
afterEach(() => { while (open.length) open.pop()!.close(); });

function executor(decodeAhead: boolean): NativeExecutor {
  const ex = NativeExecutor.create({ config: CONFIG, tensors: syntheticTensors(CONFIG, 5), numPages: 8, pageSize: PAGE, numThreads: 2, maxBatchTokens: 16, maxSeqs: 2, decodeAhead });
  open.push(ex);
  return ex;
}

interface Run { tokens: number[]; start: number; pages: number[]; temperature?: number; seed?: number; repetitionPenalty?: number }

function stepOf(runs: Run[]): StepInput {
  const n = runs.length;
  const offsets = (lens: number[]): Int32Array => Int32Array.from([0, ...lens.map((_, i) => lens.slice(0, i + 1).reduce((a, b) => a + b, 0))]);
  const g = greedyParams(n);
  return {
    ...g,
    tokens: Int32Array.from(runs.flatMap((r) => r.tokens)), positions: Int32Array.from(runs.flatMap((r) => r.tokens.map((_, i) => r.start + i))),
    seqStart: offsets(runs.map((r) => r.tokens.length)), pageTable: Int32Array.from(runs.flatMap((r) => r.pages)), pageStart: offsets(runs.map((r) => r.pages.length)),
    isSampled: new Uint8Array(n).fill(1), temperature: Float32Array.from(runs.map((r) => r.temperature ?? 0)), seed: Float64Array.from(runs.map((r) => r.seed ?? 0)),
    repetitionPenalty: Float32Array.from(runs.map((r) => r.repetitionPenalty ?? 1)),
    historyTokens: Int32Array.from(runs.flatMap((r) => r.tokens)), historyStart: offsets(runs.map((r) => r.tokens.length)), historyPromptLen: new Int32Array(n),
    returnLogits: true,
  };
}

/** Runs the same script of steps on both executors: script() makes a fresh one, which builds step i + 1 from step i's output (undefined: the end). */
type Script = (out: StepOutput, i: number) => StepInput | undefined;
async function both(first: StepInput, script: () => Script): Promise<{ ahead: StepOutput[]; plain: StepOutput[]; aheadEx: NativeExecutor }> {
  const run = async (ex: NativeExecutor): Promise<StepOutput[]> => {
    const outs: StepOutput[] = [];
    const next = script();
    for (let input: StepInput | undefined = first, i = 0; input; i++) {
      outs.push(await ex.step(input));
      input = next(outs[i], i);
    }
    return outs;
  };
  const aheadEx = executor(true);
  aheadEx.stepProfile(true);
  const ahead = await run(aheadEx);
  const plain = await run(executor(false));
  return { ahead, plain, aheadEx };
}

const pages = [0, 1, 2, 3];

describe('decoding ahead', () => {
  it('a greedy chain takes every step after the first from ahead, with the same bits', async () => {
    const { ahead, plain, aheadEx } = await both(stepOf([{ tokens: [9], start: 0, pages }]), () => (out, i) => (i < 19 ? stepOf([{ tokens: [out.tokens[0]], start: i + 1, pages }]) : undefined));
    expectSameBits(ahead, plain);
    const p = aheadEx.stepProfile(false);
    expect(p.numAhead).toBe(19);
    expect(p.numAheadDropped).toBe(1);  // the one after the last, dropped by profile()
  });

  it('a step other than the one computed ahead (another token, another sequence, a prefill) runs as asked', async () => {
    const other = [4, 5];
    const script = (): Script => {
      let mainToken = 0;
      return (out, i) => {
        const main = (start: number, token = out.tokens[0]): Run => ({ tokens: [token], start, pages });
        if (i <= 6) mainToken = out.tokens[0];
        switch (i) {
          case 0: case 1: case 2: return stepOf([main(i + 2)]);                 // positions 2, 3, 4
          case 3: return stepOf([main(5, (out.tokens[0] + 1) % 2000)]);        // not the sampled token
          case 4: case 5: return stepOf([main(i + 2)]);                         // 6, 7
          case 6: return stepOf([{ tokens: [11, 12, 13], start: 0, pages: other }]);  // another sequence's prefill
          case 7: return stepOf([{ tokens: [out.tokens[0]], start: 3, pages: other }]);
          case 8: return stepOf([main(8, mainToken), { tokens: [out.tokens[0]], start: 4, pages: other }]);  // two sequences
          case 9: case 10: return stepOf([main(i)]);                            // 9, 10
          default: return undefined;
        }
      };
    };
    const { ahead, plain, aheadEx } = await both(stepOf([{ tokens: [21, 22], start: 0, pages }]), script);
    expect(ahead.length).toBe(12);
    expectSameBits(ahead, plain);
    const p = aheadEx.stepProfile(false);
    expect(p.numAheadDropped).toBeGreaterThanOrEqual(3);  // after steps 3, 5 and 7 the caller asked for something else
    expect(p.numAhead).toBeGreaterThanOrEqual(4);
  });

  it('seeded sampling takes the same tokens ahead; penalties and a missing next page stop it', async () => {
    const sampled = await both(stepOf([{ tokens: [9], start: 0, pages, temperature: 0.9, seed: 7 }]),
      () => (out, i) => (i < 9 ? stepOf([{ tokens: [out.tokens[0]], start: i + 1, pages, temperature: 0.9, seed: 7 }]) : undefined));
    expectSameBits(sampled.ahead, sampled.plain);
    expect(sampled.aheadEx.stepProfile(false).numAhead).toBe(9);

    const penalized = await both(stepOf([{ tokens: [9], start: 0, pages, repetitionPenalty: 1.3 }]),
      () => (out, i) => (i < 5 ? stepOf([{ tokens: [out.tokens[0]], start: i + 1, pages, repetitionPenalty: 1.3 }]) : undefined));
    expectSameBits(penalized.ahead, penalized.plain);
    expect(penalized.aheadEx.stepProfile(false)).toMatchObject({ numAhead: 0, numAheadDropped: 0 });

    // One page: position 15 is its last slot, so the step at 16 (given a second page) is asked for, not computed ahead.
    const atEdge = await both(stepOf([{ tokens: [9], start: 13, pages: [0] }]),
      () => (out, i) => (i < 4 ? stepOf([{ tokens: [out.tokens[0]], start: 14 + i, pages: 14 + i < PAGE ? [0] : [0, 1] }]) : undefined));
    expectSameBits(atEdge.ahead, atEdge.plain);
    expect(atEdge.aheadEx.stepProfile(false).numAhead).toBe(3);  // 14, 15 and 17 from ahead; 16 asked for
  });

  it('close() while a step is computed ahead stops it; the executor is then closed', async () => {
    const ex = executor(true);
    await ex.step(stepOf([{ tokens: [9], start: 0, pages }]));
    ex.close();
    await expect(ex.step(stepOf([{ tokens: [1], start: 1, pages }]))).rejects.toMatchObject({ nativeCode: 'ERR_NATIVE_CLOSED' });
  });
});
