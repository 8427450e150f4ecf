/** Which steps run on the JS thread (src/engine/sync-steps.ts): the rules of 'auto', true and false. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Executor } from '../../src/executor/step.js';
import { SYNC_MAX_MS, SYNC_MAX_TOKENS, SyncStepChooser, validateSyncSteps } from '../../src/engine/sync-steps.js';

const info = { vocabSize: 10, contextLength: 64, numPages: 4, pageSize: 16, maxBatchTokens: 64, maxSeqs: 4 };
const step = (): never => { throw new Error('not called'); };
const withSync = (decodesAhead = false): Executor => ({ info, step, stepSync: step, decodesAhead, close: () => undefined });
const withoutSync: Executor = { info, step, close: () => undefined };

describe('SyncStepChooser', () => {
  it("'auto': a step of at most 4 tokens is sync while the latest such step took at most 4 ms", () => {
    fc.assert(fc.property(fc.array(fc.record({ tokens: fc.integer({ min: 1, max: 64 }), ms: fc.double({ min: 0, max: 20, noNaN: true }) }), { maxLength: 30 }), (steps) => {
      const chooser = new SyncStepChooser('auto', withSync());
      let lastShort: number | undefined;
      for (const s of steps) {
        const expected = s.tokens <= SYNC_MAX_TOKENS && (lastShort === undefined || lastShort <= SYNC_MAX_MS);
        expect(chooser.isSync(s.tokens)).toBe(expected);
        chooser.noteStep(s.tokens, s.ms);
        if (s.tokens <= SYNC_MAX_TOKENS) lastShort = s.ms;
      }
    }));
  });

  it("'auto' stays off with an executor that decodes ahead or has no stepSync; true and false hold for every step", () => {
    for (const tokens of [1, 4, 5, 500]) {
      expect(new SyncStepChooser('auto', withSync(true)).isSync(tokens)).toBe(false);
      expect(new SyncStepChooser('auto', withoutSync).isSync(tokens)).toBe(false);
      expect(new SyncStepChooser(true, withSync(true)).isSync(tokens)).toBe(true);
      expect(new SyncStepChooser(false, withSync()).isSync(tokens)).toBe(false);
    }
    const slow = new SyncStepChooser(true, withSync());
    slow.noteStep(1, 100);
    expect(slow.isSync(1)).toBe(true);
  });

  it('validates the option by name', () => {
    expect(validateSyncSteps(undefined, withoutSync)).toBe('auto');
    expect(validateSyncSteps(false, withoutSync)).toBe(false);
    expect(validateSyncSteps(true, undefined)).toBe(true);
    expect(() => validateSyncSteps('always', undefined)).toThrow(/syncSteps must be 'auto', true or false/);
    expect(() => validateSyncSteps(true, withoutSync)).toThrow(/needs an executor with stepSync/);
  });
});
