/**
 * The step-cost model corrected online from the steps' observed times (the engine option
 * calibrateStepCost). Each of the model's five terms (fixed, tokens, sampled, keys attended,
 * K/V read) gets a multiplier m, fitted by least squares over the recent steps:
 *
 *   observed ms ~ sum_j m_j z_j     z_j: term j's share of the step under the prior model
 *
 * with exponential forgetting (FORGETTING a step: the last ~50 steps weigh most) and damping
 * towards the previous step's multipliers in proportion to how much each term was seen
 * (DAMPING, a Levenberg-Marquardt step: repeated, it converges to the least-squares fit), so a
 * term the steps never varied apart from others (the tokens and the sampled ones of
 * decode-only steps move together with the fixed part) keeps its multiplier until they do. An observation is clipped
 * to [1/MAX_JUMP, MAX_JUMP] times the current prediction, so a step the machine stalled (a
 * descheduled thread: tens of ms) moves the fit by a few percent, not by the stall. The
 * multipliers stay within [MIN_SCALE, MAX_SCALE]. Pure: numbers in and out, no clock.
 */
import { keysAttended, type StepCostModel } from './step-cost.js';

export const FORGETTING = 0.98;
export const DAMPING = 0.1;
export const MAX_JUMP = 2;
export const MIN_SCALE = 0.25;
export const MAX_SCALE = 4;

const NUM_TERMS = 5;

/** A run of the step as the calibration needs it (a PlannedRun has these fields). */
export interface CalibrationRun {
  readonly kind: 'prefill' | 'decode';
  readonly start: number;
  readonly numTokens: number;
  readonly isSampled: boolean;
}

export class StepCostCalibration {
  private readonly gram = new Float64Array(NUM_TERMS * NUM_TERMS); // (j, k) sum of z_j z_k, forgotten
  private readonly moment = new Float64Array(NUM_TERMS); // (j) sum of z_j y
  private scales: number[] = Array(NUM_TERMS).fill(1);
  private current: StepCostModel;

  constructor(private readonly prior: StepCostModel) {
    this.current = prior;
  }

  /** The model to plan the next step with. */
  model(): StepCostModel {
    return this.current;
  }

  /** The multipliers on fixed, tokens, sampled, keys and K/V read (1: the prior's own). */
  multipliers(): readonly number[] {
    return this.scales;
  }

  /** Folds in one step: its runs and the ms it took. A step without runs, or a time that is not a finite number > 0, is ignored. */
  observe(runs: readonly CalibrationRun[], ms: number): void {
    if (runs.length === 0 || !(ms > 0) || !Number.isFinite(ms)) return;
    const z = this.terms(runs);
    const predicted = z.reduce((sum, zj, j) => sum + zj * this.scales[j], 0);
    const y = Math.min(MAX_JUMP * predicted, Math.max(predicted / MAX_JUMP, ms));
    for (let j = 0; j < NUM_TERMS; j++) {
      this.moment[j] = FORGETTING * this.moment[j] + z[j] * y;
      for (let k = 0; k < NUM_TERMS; k++) this.gram[j * NUM_TERMS + k] = FORGETTING * this.gram[j * NUM_TERMS + k] + z[j] * z[k];
    }
    this.scales = this.solve();
    const [fixed, token, sampled, key, kvRead] = this.scales;
    const p = this.prior;
    this.current = { ...p, fixedMs: p.fixedMs * fixed, perTokenMs: p.perTokenMs * token, perSampledMs: p.perSampledMs * sampled, perKeyMs: p.perKeyMs * key, perKvReadMs: p.perKvReadMs * kvRead };
  }

  /** Each term's share of the step under the prior (ms). */
  private terms(runs: readonly CalibrationRun[]): number[] {
    const p = this.prior, prefillScale = p.prefillKvReadScale ?? 1;
    let tokens = 0, sampled = 0, keys = 0, kvRead = 0;
    for (const run of runs) {
      tokens += run.numTokens;
      sampled += run.isSampled ? 1 : 0;
      keys += keysAttended(run.start, run.numTokens);
      kvRead += (run.start + run.numTokens) * (run.kind === 'prefill' ? prefillScale : 1);
    }
    return [p.fixedMs, tokens * p.perTokenMs, sampled * p.perSampledMs, keys * p.perKeyMs, kvRead * p.perKvReadMs];
  }

  /** (G + D) m = b + D m_prev by Gaussian elimination with partial pivoting (D: DAMPING x G's diagonal), clamped. */
  private solve(): number[] {
    const n = NUM_TERMS, a = Array.from({ length: n }, (_, j) => Array.from({ length: n + 1 }, (_, k) => (k < n ? this.gram[j * n + k] : this.moment[j])));
    for (let j = 0; j < n; j++) {
      const damp = DAMPING * this.gram[j * n + j] + 1e-12;
      a[j][j] += damp;
      a[j][n] += damp * this.scales[j];
    }
    for (let col = 0; col < n; col++) {
      let pivot = col;
      for (let r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) pivot = r;
      [a[col], a[pivot]] = [a[pivot], a[col]];
      for (let r = col + 1; r < n; r++) {
        const f = a[r][col] / a[col][col];
        for (let k = col; k <= n; k++) a[r][k] -= f * a[col][k];
      }
    }
    const m = Array<number>(n).fill(1);
    for (let r = n - 1; r >= 0; r--) {
      let s = a[r][n];
      for (let k = r + 1; k < n; k++) s -= a[r][k] * m[k];
      m[r] = s / a[r][r];
    }
    return m.map((x) => (Number.isFinite(x) ? Math.min(MAX_SCALE, Math.max(MIN_SCALE, x)) : 1));
  }
}
