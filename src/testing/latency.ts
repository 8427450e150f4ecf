/**
 * An executor latency model: a step's duration as a function of its shape, so a workload
 * runs in virtual time with no model and no sleeping. The linear form
 *   ms = fixedMs + perTokenMs * tokens + perSeqMs * sequences + perContextMs * attended
 *        + perKvReadMs * kvRead + perSampledMs * sampled + wakeMs * (the step follows an idle gap)
 * (attended = sum over the step's tokens of the positions they attend to: attention's
 * arithmetic, which dominates a long prefill chunk; kvRead = sum over its sequences of the
 * context each reads: the KV cache streamed from memory, which dominates decode, where
 * every token reads its whole context alone; an idle gap of more than IDLE_GAP_MS lets
 * worker threads fall asleep, and waking them costs) is fitted by
 * least squares to steps timed on the native executor (`npm run bench:calibrate`, which
 * writes a calibration file: see calibration.ts).
 */
import type { StepInput } from '../executor/step.js';

export interface StepShape {
  numTokens: number;
  numSeqs: number;
  /** Sum over the step's tokens of (position + 1): the attention arithmetic. */
  numAttended: number;
  /** Sum over the step's sequences of (last position + 1): the KV read. */
  numKvRead: number;
  numSampled: number;
  /** 1 when the step follows an idle gap of more than IDLE_GAP_MS, else 0. */
  afterIdle: number;
}

/** Idle time after which a step pays the wake-up of the executor's threads. */
export const IDLE_GAP_MS = 1;

export interface LinearLatency {
  fixedMs: number;
  perTokenMs: number;
  perSeqMs: number;
  perContextMs: number;
  perKvReadMs: number;
  perSampledMs: number;
  wakeMs: number;
}

export type LatencyModel = (shape: StepShape) => number;

/** The shape of a step; `idleBeforeMs` = time since the previous step ended (Infinity for the first). */
export function stepShape(input: StepInput, idleBeforeMs = 0): StepShape {
  let numAttended = 0;
  for (let t = 0; t < input.positions.length; t++) numAttended += input.positions[t] + 1;
  let numSampled = 0;
  let numKvRead = 0;
  const numSeqs = input.seqStart.length - 1;
  for (let s = 0; s < numSeqs; s++) {
    numSampled += input.isSampled[s];
    if (input.seqStart[s + 1] > input.seqStart[s]) numKvRead += input.positions[input.seqStart[s + 1] - 1] + 1;
  }
  return { numTokens: input.tokens.length, numSeqs, numAttended, numKvRead, numSampled, afterIdle: idleBeforeMs > IDLE_GAP_MS ? 1 : 0 };
}

/** The coefficients, each with the step feature it multiplies (1 for fixedMs). */
export const LATENCY_TERMS: ReadonlyArray<keyof LinearLatency> = ['fixedMs', 'perTokenMs', 'perSeqMs', 'perContextMs', 'perKvReadMs', 'perSampledMs', 'wakeMs'];
const FEATURES = (s: StepShape): number[] => [1, s.numTokens, s.numSeqs, s.numAttended, s.numKvRead, s.numSampled, s.afterIdle];

export function linearLatency(c: LinearLatency): LatencyModel {
  const w = LATENCY_TERMS.map((term) => c[term]);
  return (s) => Math.max(0, FEATURES(s).reduce((sum, x, i) => sum + w[i] * x, 0));
}

/**
 * Fits the linear model to timed steps: least squares with each step weighted by 1/ms
 * (between absolute error, which only long prefill steps drive, and relative error,
 * which under-predicts), with
 * every coefficient kept >= 0 (a feature whose coefficient comes out negative is dropped
 * and the rest refitted). `without` leaves terms out of the form (held at 0), to see
 * what each one is worth.
 */
export function fitLinearLatency(samples: ReadonlyArray<{ shape: StepShape; ms: number }>, options: { without?: ReadonlyArray<keyof LinearLatency> } = {}): LinearLatency {
  for (const term of options.without ?? []) if (!LATENCY_TERMS.includes(term)) throw new RangeError(`fitLinearLatency: unknown term '${String(term)}'`);
  const active = LATENCY_TERMS.map((term) => !options.without?.includes(term));
  let w: number[] = LATENCY_TERMS.map(() => 0);
  for (let round = 0; round <= LATENCY_TERMS.length; round++) {
    w = weightedFit(samples, active);
    const negative = w.findIndex((v, i) => active[i] && v < 0);
    if (negative < 0) break;
    active[negative] = false;
  }
  return Object.fromEntries(LATENCY_TERMS.map((term, i) => [term, w[i]])) as unknown as LinearLatency;
}

function weightedFit(samples: ReadonlyArray<{ shape: StepShape; ms: number }>, active: readonly boolean[]): number[] {
  const index = active.flatMap((on, i) => (on ? [i] : []));
  const n = index.length;
  const a = Array.from({ length: n }, () => new Float64Array(n));
  const b = new Float64Array(n);
  for (const { shape, ms } of samples) {
    const all = FEATURES(shape);
    const x = index.map((i) => all[i]);
    const weight = 1 / Math.max(1e-6, ms);
    for (let i = 0; i < n; i++) {
      b[i] += weight * x[i] * ms;
      for (let j = 0; j < n; j++) a[i][j] += weight * x[i] * x[j];
    }
  }
  for (let i = 0; i < n; i++) a[i][i] += 1e-12 * (a[i][i] + 1);
  const solved = solve(a, b);
  const w = LATENCY_TERMS.map(() => 0);
  index.forEach((i, k) => (w[i] = solved[k]));
  return w;
}

/** Gaussian elimination with partial pivoting (a is n x n, small). */
function solve(a: Float64Array[], b: Float64Array): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) pivot = r;
    [m[col], m[pivot]] = [m[pivot], m[col]];
    const p = m[col][col] || 1e-30;
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r][col] / p;
      for (let k = col; k <= n; k++) m[r][k] -= f * m[col][k];
    }
  }
  return m.map((row, i) => row[n] / (row[i] || 1e-30));
}
