/**
 * The step-cost model corrected online from the steps' observed times (the engine option
 * calibrateStepCost). A step's predicted cost splits in two parts under the prior model: D,
 * the fixed part and the decode runs, and C, the prefill chunks. Two multipliers correct them,
 *
 *   observed ms ~ a D + b C
 *
 * a from the steps without chunks (a = sum D y / sum D^2), b from the steps with chunks given
 * a (b = sum C (y - a D) / sum C^2). Not both from the same steps: under the bound every step
 * of a long prefill carries chunks worth about (maxRatio - 1) times its decodes, so C moves
 * with D and the two would not separate. While the prefill runs, a extrapolates the decodes
 * by the prior's form (each gains a position a step); what that misses lands in b, and when
 * the decodes grow faster than the prior says that makes the chunks smaller (the bound errs
 * on the safe side). The model the policy gets is the prior with every coefficient times a
 * and its chunks' cost times b / a (prefillCostScale). Sums forget: a's over ~50 steps
 * (FORGETTING a step), b's over ~10 (PREFILL_FORGETTING), since a chunk's cost against the
 * prior's changes as the prompt's context grows (its keys and K/V read outgrow its tokens). An observation is clipped to [1/MAX_JUMP, MAX_JUMP] times the
 * current prediction, so a step the machine stalled (a descheduled thread: tens of ms) moves
 * the fit by a few percent, not by the stall. The multipliers stay within [MIN_SCALE,
 * MAX_SCALE]. Pure: numbers in and out, no clock.
 */
import { prefillCost, runCost, type StepCostModel } from './step-cost.js';

export const FORGETTING = 0.98;
export const PREFILL_FORGETTING = 0.9;
export const MAX_JUMP = 1.5;
export const MIN_SCALE = 0.25;
export const MAX_SCALE = 4;
/** Steps the calibration lets pass before it folds any in: a fresh executor's first steps run cold (pages faulted in, code not yet optimized). */
export const WARM_UP_STEPS = 32;

/** A run of the step as the calibration needs it (a PlannedRun has these fields). */
export interface CalibrationRun {
  readonly kind: 'prefill' | 'decode';
  readonly start: number;
  readonly numTokens: number;
  readonly isSampled: boolean;
}

export class StepCostCalibration {
  private dd = 0; // forgotten sums: D D and D y over the steps without chunks, C C and C (y - a D) over those with
  private dy = 0;
  private cc = 0;
  private cr = 0;
  private a = 1;
  private b = 1;
  private current: StepCostModel;
  private numSeen = 0;

  constructor(private readonly prior: StepCostModel) {
    this.current = prior;
  }

  /** The model to plan the next step with. */
  model(): StepCostModel {
    return this.current;
  }

  /** The multipliers of the decodes' part (with the fixed part) and of the chunks' part (1, 1: the prior's own). */
  multipliers(): { decodes: number; prefill: number } {
    return { decodes: this.a, prefill: this.b };
  }

  /** Folds in one step: its runs and the ms it took. A step without runs, or a time that is not a finite number > 0, is ignored. */
  observe(runs: readonly CalibrationRun[], ms: number): void {
    if (runs.length === 0 || !(ms > 0) || !Number.isFinite(ms)) return;
    if (++this.numSeen <= WARM_UP_STEPS) return;
    const p = this.prior;
    let d = p.fixedMs, c = 0;
    for (const r of runs) {
      if (r.kind === 'decode') d += runCost(p, r.start, r.numTokens, r.isSampled);
      else c += prefillCost(p, r.start, r.numTokens, r.isSampled);
    }
    const predicted = this.a * d + this.b * c;
    const y = Math.min(MAX_JUMP * predicted, Math.max(predicted / MAX_JUMP, ms));
    const clamp = (x: number): number => Math.min(MAX_SCALE, Math.max(MIN_SCALE, x));
    if (c === 0) {
      this.dd = FORGETTING * this.dd + d * d;
      this.dy = FORGETTING * this.dy + d * y;
      this.a = clamp(this.dy / this.dd);
    } else {
      this.cc = PREFILL_FORGETTING * this.cc + c * c;
      this.cr = PREFILL_FORGETTING * this.cr + c * (y - this.a * d);
      this.b = clamp(this.cr / this.cc);
    }
    const a = this.a;
    this.current = {
      ...p,
      fixedMs: p.fixedMs * a, perTokenMs: p.perTokenMs * a, perSampledMs: p.perSampledMs * a, perKeyMs: p.perKeyMs * a, perKvReadMs: p.perKvReadMs * a,
      prefillCostScale: (p.prefillCostScale ?? 1) * (this.b / a),
    };
  }
}
