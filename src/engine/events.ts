/** Engine events for dashboards: request lifecycle changes and one summary per step. */
import type { RequestPhase } from '../../machines/request.js';
import type { PlannedRun } from '../scheduler/view.js';

export type EngineEvent =
  | { type: 'request.state'; id: number; state: RequestPhase }
  | { type: 'step'; numSeqs: number; numPrefillTokens: number; numDecodeTokens: number; durationMs: number; running: number; waiting: number; /** The requests that ran, in batch order. */ ids: number[] }
  | { type: 'engine.error'; error: unknown };

export function stepEvent(runs: readonly PlannedRun[], durationMs: number, running: number, waiting: number): EngineEvent {
  let numPrefillTokens = 0;
  let numDecodeTokens = 0;
  for (const run of runs) {
    if (run.kind === 'prefill') numPrefillTokens += run.numTokens;
    else numDecodeTokens += run.numTokens;
  }
  return { type: 'step', numSeqs: runs.length, numPrefillTokens, numDecodeTokens, durationMs, running, waiting, ids: runs.map((run) => run.id) };
}
