/** The executor's step profile (profile(on)): what it counts, that it resets, and that it changes no bit of a step. */
import { afterEach, describe, expect, it } from 'vitest';
import { NativeExecutor } from '../../src/executor/native.js';
import type { StepInput } from '../../src/executor/step.js';
import type { ModelConfig } from '../../src/models/config.js';
import { syntheticTensors } from '../../src/models/synthetic.js';
import { greedyParams } from '../../bench/greedy-params.js';

// Weights past 2 MB, so the step is split by layers (the path the profile's regions time).
const CONFIG: ModelConfig = {
  family: 'llama', vocabSize: 2000, hiddenSize: 256, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 64,
  intermediateSize: 512, contextLength: 256, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: false, qkvBias: false,
};
const PAGE = 16, PAGES = 4;

const open: NativeExecutor[] = [];
afterEach(() => { while (open.length) open.pop()!.close(); });

// Without decoding ahead, so every step is one the test asked for (decode-ahead.test.ts: with it).
function executor(): NativeExecutor {
  const ex = NativeExecutor.create({ config: CONFIG, tensors: syntheticTensors(CONFIG, 3), numPages: PAGES, pageSize: PAGE, numThreads: 2, maxBatchTokens: 16, maxSeqs: 1, decodeAhead: false });
  open.push(ex);
  return ex;
}

const decodeStep = (token: number, pos: number): StepInput => ({
  tokens: Int32Array.of(token), positions: Int32Array.of(pos), seqStart: Int32Array.of(0, 1),
  pageTable: Int32Array.from({ length: PAGES }, (_, i) => i), pageStart: Int32Array.of(0, PAGES),
  isSampled: Uint8Array.of(1), ...greedyParams(1), returnLogits: true,
});

/** numSteps greedy decode steps from position 0; the logits of every step. */
async function decode(ex: NativeExecutor, numSteps: number): Promise<Float32Array[]> {
  const logits: Float32Array[] = [];
  let token = 7;
  for (let i = 0; i < numSteps; i++) {
    const out = await ex.step(decodeStep(token, i));
    token = out.tokens[0];
    logits.push(out.logits!);
  }
  return logits;
}

describe('step profile', () => {
  it('counts the steps and the gaps between them, times every region, and resets on each call', async () => {
    const ex = executor();
    expect(ex.stepProfile(true).numSteps).toBe(0);  // off until now: nothing gathered
    await decode(ex, 6);
    const p = ex.stepProfile(true);
    expect(p.numSteps).toBe(6);
    expect(p.numGaps).toBe(5);  // the first step after profile() follows no result of its own
    for (const ms of [p.gemmMs, p.lmHeadMs, p.rowOpsMs, p.attentionMs, p.samplingMs, p.stepMs, p.gapMs]) expect(ms).toBeGreaterThan(0);
    expect(p.gemmMs + p.attentionMs + p.rowOpsMs + p.lmHeadMs + p.samplingMs).toBeLessThanOrEqual(p.stepMs);
    expect(p.poolWaitMs).toBeLessThanOrEqual(p.gemmMs + p.attentionMs + p.lmHeadMs);
    expect(p.dispatches).toBeGreaterThan(0);  // 2 threads: the GEMMs are split
    const again = ex.stepProfile(false);
    expect(again.numSteps).toBe(0);
    expect(again.stepMs).toBe(0);
    await decode(ex, 2);
    expect(ex.stepProfile(false)).toMatchObject({ numSteps: 0, gemmMs: 0, gapMs: 0, dispatches: 0 });
  });

  it('changes no bit of what a step computes', async () => {
    const plain = await decode(executor(), 5);
    const ex = executor();
    ex.stepProfile(true);
    const profiled = await decode(ex, 5);
    expect(ex.stepProfile(false).numSteps).toBe(5);
    for (let i = 0; i < plain.length; i++) expect(Buffer.from(profiled[i].buffer).equals(Buffer.from(plain[i].buffer))).toBe(true);
  });

  it('is refused while a step is in flight, and on a closed executor', async () => {
    const ex = executor();
    const inFlight = ex.step(decodeStep(3, 0));
    expect(() => ex.stepProfile(true)).toThrow(expect.objectContaining({ nativeCode: 'ERR_NATIVE_BUSY' }));
    await inFlight;
    ex.close();
    expect(() => ex.stepProfile(true)).toThrow(expect.objectContaining({ nativeCode: 'ERR_NATIVE_CLOSED' }));
  });
});
