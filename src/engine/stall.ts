/**
 * Stall detection: a policy that stops making progress is caught, not waited on forever.
 *   - an empty plan while requests are queued: nothing will change until something
 *     outside the engine does, so the queued requests have starved;
 *   - a livelock: between two generated tokens the engine state (each request's phase,
 *     tokens computed, pages held) repeats exactly, so a deterministic policy is cycling
 *     through admit/preempt without end.
 * States are fingerprinted only on steps that generated nothing (prefill-only or
 * preempt-only steps), and forgotten at the next generated token, so decode costs nothing.
 */
import type { RequestView } from '../scheduler/view.js';

export class StallDetector {
  private readonly seen = new Map<string, number>();
  private readonly churned = new Set<number>();

  /** Call after a step that generated at least one token (or when requests arrive or leave). */
  noteProgress(): void {
    if (this.seen.size > 0) this.seen.clear();
    this.churned.clear();
  }

  /** Requests admitted or preempted since the last progress (the ones a livelock concerns). */
  noteChurn(ids: readonly number[]): void {
    for (const id of ids) this.churned.add(id);
  }

  /**
   * Call at the start of a step that follows a step without a generated token. Returns
   * the number of steps in the cycle when this state was seen before since progress.
   */
  checkRepeat(stepIndex: number, running: readonly RequestView[], waiting: readonly RequestView[]): number | undefined {
    const key = fingerprint(running, waiting);
    const before = this.seen.get(key);
    if (before !== undefined) return stepIndex - before;
    this.seen.set(key, stepIndex);
    return undefined;
  }

  get churnedIds(): number[] {
    return [...this.churned];
  }
}

function fingerprint(running: readonly RequestView[], waiting: readonly RequestView[]): string {
  let key = '';
  for (const r of running) key += `${r.id}:${r.phase}:${r.numComputed}:${r.numTokens}:${r.numPages};`;
  key += '|';
  for (const r of waiting) key += `${r.id}:${r.numTokens};`;
  return key;
}
