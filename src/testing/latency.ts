/**
 * An executor latency model: a step's duration as a function of its shape, so a workload
 * runs in virtual time with no model and no sleeping. The linear form
 *   ms = fixedMs + perTokenMs * tokens + perSeqMs * sequences + perContextMs * attended + perSampledMs * sampled
 *        + wakeMs * (the step follows an idle gap)
 * (attended = sum over the step's tokens of the positions they attend to; an idle gap of
 * more than IDLE_GAP_MS lets worker threads fall asleep, and waking them costs) is fitted by
 * least squares to steps timed on the native executor (`npm run bench:calibrate`, which
 * writes a calibration file: see calibration.ts).
 */
import type { StepInput } from '../executor/step.js';

export interface StepShape {
  numTokens: number;
  numSeqs: number;
  /** Sum over the step's tokens of (position + 1): the attention work. */
  numAttended: number;
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
  perSampledMs: number;
  wakeMs: number;
}

export type LatencyModel = (shape: StepShape) => number;

/** The shape of a step; `idleBeforeMs` = time since the previous step ended (Infinity for the first). */
export function stepShape(input: StepInput, idleBeforeMs = 0): StepShape {
  let numAttended = 0;
  for (let t = 0; t < input.positions.length; t++) numAttended += input.positions[t] + 1;
  let numSampled = 0;
  for (let s = 0; s < input.isSampled.length; s++) numSampled += input.isSampled[s];
  return { numTokens: input.tokens.length, numSeqs: input.seqStart.length - 1, numAttended, numSampled, afterIdle: idleBeforeMs > IDLE_GAP_MS ? 1 : 0 };
}

export function linearLatency(c: LinearLatency): LatencyModel {
  return (s) => Math.max(0, c.fixedMs + c.perTokenMs * s.numTokens + c.perSeqMs * s.numSeqs + c.perContextMs * s.numAttended + c.perSampledMs * s.numSampled + c.wakeMs * s.afterIdle);
}

const FEATURES = (s: StepShape): number[] => [1, s.numTokens, s.numSeqs, s.numAttended, s.numSampled, s.afterIdle];
/** The coefficients in FEATURES order. */
export const LATENCY_TERMS: ReadonlyArray<keyof LinearLatency> = ['fixedMs', 'perTokenMs', 'perSeqMs', 'perContextMs', 'perSampledMs', 'wakeMs'];

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
  let w: number[] = [0, 0, 0, 0, 0, 0];
  for (let round = 0; round <= LATENCY_TERMS.length; round++) {
    w = weightedFit(samples, active);
    const negative = w.findIndex((v, i) => active[i] && v < 0);
    if (negative < 0) break;
    active[negative] = false;
  }
  return { fixedMs: w[0], perTokenMs: w[1], perSeqMs: w[2], perContextMs: w[3], perSampledMs: w[4], wakeMs: w[5] };
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
  const w = [0, 0, 0, 0, 0, 0];
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
