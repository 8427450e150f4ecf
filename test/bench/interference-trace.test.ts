/** The interference bench's variant selection and its attribution of the ITL tail to steps (pure, no executor). */
import { describe, expect, it } from 'vitest';
import { attributeTail, type TracedStep } from '../../bench/interference.js';
import { selectVariants } from '../../bench/suites.js';

const LABELS = ['chunk 64', 'chunk 64, bf16 KV', 'chunk 256, maxStepCostRatio 1.5', 'chunk 256, maxStepCostRatio 1.5, bf16 KV'];

describe('interference variant selection', () => {
  it('substrings pick every label containing one; an exact label picks only itself', () => {
    expect(selectVariants(LABELS)).toEqual(LABELS);
    expect(selectVariants(LABELS, { parts: ['maxStepCostRatio 1.5'] })).toEqual(LABELS.slice(2));
    expect(selectVariants(LABELS, { exact: ['chunk 256, maxStepCostRatio 1.5'] })).toEqual(['chunk 256, maxStepCostRatio 1.5']);
    expect(selectVariants(LABELS, { exact: ['chunk 64'], parts: ['1.5, bf16'] })).toEqual(['chunk 64', 'chunk 256, maxStepCostRatio 1.5, bf16 KV']);
  });

  it('a part or a label that picks nothing is refused, naming the labels', () => {
    expect(() => selectVariants(LABELS, { parts: ['chunk 32'] })).toThrow(/'chunk 32' is in no variant's label.*'chunk 64'/);
    expect(() => selectVariants(LABELS, { exact: ['chunk 256'] })).toThrow(/no variant is labelled 'chunk 256'/);
  });
});

describe('the ITL tail attribution', () => {
  const step = (end: number, ms: number, more: Partial<TracedStep> = {}): TracedStep => ({ end, ms, chunk: 4, start: 100, isFinal: false, numDecodes: 2, decodesCost: 1, ...more });

  it('counts the steps inside each gap at or above the threshold, their ms and the rest', () => {
    // Two streams. Steps end at 10, 20, 32 (slow), 40 (a step without stream 1's decode), 50, 60 (the last chunk, a GC in the gap).
    const steps = [step(10, 9), step(20, 9), step(32, 11), step(40, 7, { numDecodes: 1 }), step(50, 9), step(60, 8, { isFinal: true })];
    const tokenTimes = [
      [10.5, 20.5, 32.5, 40.5, 50.5, 60.5],
      [10.25, 20.25, 32.25, 50.25, 60.25], // no token at 40: its gap 32.25 -> 50.25 holds two steps
    ];
    const gcs = [{ start: 52, ms: 1.5 }];
    const t = attributeTail(tokenTimes, steps, gcs, 15, 100, 10, 2);
    // Gaps >= 10 whose later token is in [15, 100): stream 0's 10, 12, 10, 10 (not 32.5 -> 40.5, 8 ms); stream 1's 10, 12, 18, 10.
    expect(t.numGaps).toBe(8);
    expect(t.numOneStep).toBe(7);
    expect(t.numSeveralSteps).toBe(1);
    expect(t.numWithoutDecodes).toBe(1);
    expect(t.numWithFinalChunk).toBe(2);
    expect(t.numWithGc).toBe(2);
    expect(t.gcMsMax).toBe(1.5);
    expect(t.gapMsP50).toBe(10);
    expect(t.stepMsP50).toBe(9);
    expect(t.restMsP50).toBe(1);
    expect(t.restMsMax).toBe(2); // 32.25 -> 50.25: 18 ms, its two steps 16; and the gaps over the last chunk (8 ms)
  });

  it('leaves out gaps below the threshold and outside the window; a step ending at a token belongs to the gap that token closes', () => {
    const steps = [step(10, 9), step(20, 8), step(30, 7)];
    const t = attributeTail([[10, 20, 30]], steps, [], 25, 100, 5, 2);
    expect(t.numGaps).toBe(1);
    expect(t.stepMsP50).toBe(7);
    expect(t.numOneStep).toBe(1);
    expect(attributeTail([[10, 20, 30]], steps, [], 0, 100, 10.5, 2).numGaps).toBe(0);
  });
});
