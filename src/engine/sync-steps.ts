/**
 * Which steps the engine runs on the JS thread (Executor.stepSync) instead of through the step
 * runner (Executor.step). A synchronous step saves the binding's round trip (the runner's
 * hand-off, the JS thread's wake-up, the promise), which is a large share of a short step:
 * single-stream decode of a small model, about a millisecond and a half a token. It blocks the
 * event loop while it runs, so 'auto' takes only short steps that way: at most
 * SYNC_MAX_TOKENS tokens, while the latest such step took at most SYNC_MAX_MS.
 * Constrained steps (deferred token masks, written while the step runs) always go through step().
 */
import { InvalidRequestError } from '../errors.js';
import type { Executor } from '../executor/step.js';

export type SyncSteps = 'auto' | boolean;

export const SYNC_MAX_TOKENS = 4;
export const SYNC_MAX_MS = 4;

export function validateSyncSteps(value: unknown, executor: Executor | undefined): SyncSteps {
  if (value === undefined) return 'auto';
  if (value !== 'auto' && value !== true && value !== false) {
    throw new InvalidRequestError(`engine option syncSteps must be 'auto', true or false, got ${String(value)}`, 'syncSteps');
  }
  if (value === true && executor && !executor.stepSync) {
    throw new InvalidRequestError('engine option syncSteps: true needs an executor with stepSync (the native one); this executor has none', 'syncSteps');
  }
  return value;
}

export class SyncStepChooser {
  /** Milliseconds of the latest step of at most SYNC_MAX_TOKENS tokens, either way; undefined before the first. */
  private lastShortMs: number | undefined;

  constructor(private readonly mode: SyncSteps, private readonly executor: Executor) {}

  /** Whether a step of `numTokens` tokens runs on the JS thread (unless it is constrained: ConstrainedDecoding.step). */
  isSync(numTokens: number): boolean {
    if (!this.executor.stepSync || this.mode === false) return false;
    if (this.mode === true) return true;
    if (this.executor.decodesAhead) return false;  // decoding ahead hides the round trip its own way
    return numTokens <= SYNC_MAX_TOKENS && (this.lastShortMs === undefined || this.lastShortMs <= SYNC_MAX_MS);
  }

  /** What a step took (ms), from the call to its result. */
  noteStep(numTokens: number, ms: number): void {
    if (numTokens <= SYNC_MAX_TOKENS) this.lastShortMs = ms;
  }
}
