/** The engine options that bound a step's cost (maxStepCostRatio, measuredStepCost): validation and the model they give the policy. */
import { InvalidRequestError } from '../errors.js';
import type { ExecutorInfo } from '../executor/step.js';
import { stepCostModel, type CostDtypes, type StepCostCoefficients, type StepCostModel } from '../scheduler/step-cost.js';

const COEFFICIENTS: ReadonlyArray<keyof StepCostCoefficients> = ['fixedMs', 'perTokenMs', 'perSampledMs', 'perKeyMs', 'perKvReadMs'];

/**
 * Checks measuredStepCost: an object of the five coefficients, each a finite number >= 0,
 * fixedMs > 0 (a step always costs something), and only beside maxStepCostRatio (alone it
 * would bound nothing). Returns a copy, so later changes to the caller's object do not leak in.
 */
export function validateMeasuredStepCost(value: unknown, maxStepCostRatio: number | undefined): StepCostCoefficients | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidRequestError(`engine option measuredStepCost must be an object of ${COEFFICIENTS.join(', ')}`, 'measuredStepCost');
  }
  const o = value as Record<string, unknown>;
  for (const key of COEFFICIENTS) {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (key === 'fixedMs' && v === 0)) {
      const want = key === 'fixedMs' ? 'a finite number > 0' : 'a finite number >= 0';
      throw new InvalidRequestError(`engine option measuredStepCost.${key} must be ${want}, got ${String(v)}`, `measuredStepCost.${key}`);
    }
  }
  if (maxStepCostRatio === undefined) throw new InvalidRequestError('measuredStepCost is the cost maxStepCostRatio bounds: it needs maxStepCostRatio', 'measuredStepCost');
  return Object.fromEntries(COEFFICIENTS.map((k) => [k, o[k]])) as unknown as StepCostCoefficients;
}

/** Checks pacedPrefill: a boolean, and true only beside maxStepCostRatio (it paces what the ratio bounds). */
export function validatePacedPrefill(value: unknown, maxStepCostRatio: number | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw new InvalidRequestError(`engine option pacedPrefill must be a boolean, got ${String(value)}`, 'pacedPrefill');
  if (value && maxStepCostRatio === undefined) throw new InvalidRequestError('pacedPrefill paces the step cost maxStepCostRatio bounds: it needs maxStepCostRatio', 'pacedPrefill');
  return value;
}

/** Checks calibrateStepCost: a boolean, and true only beside maxStepCostRatio (it corrects the cost the ratio bounds). */
export function validateCalibrateStepCost(value: unknown, maxStepCostRatio: number | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw new InvalidRequestError(`engine option calibrateStepCost must be a boolean, got ${String(value)}`, 'calibrateStepCost');
  if (value && maxStepCostRatio === undefined) throw new InvalidRequestError('calibrateStepCost corrects the step cost maxStepCostRatio bounds: it needs maxStepCostRatio', 'calibrateStepCost');
  return value;
}

/**
 * The step-cost model the policy gets, when maxStepCostRatio is set: the measured
 * coefficients when given, else derived from the executor's model shape and the element
 * types (refused by name when the executor gives no shape).
 */
export interface StepCostOptions extends CostDtypes {
  readonly maxStepCostRatio?: number;
  readonly measuredStepCost?: StepCostCoefficients;
  readonly pacedPrefill?: boolean;
  readonly calibrateStepCost?: boolean;
}

export function stepCostFor(info: ExecutorInfo, options: StepCostOptions): StepCostModel | undefined {
  const { maxStepCostRatio, measuredStepCost } = options;
  if (maxStepCostRatio === undefined) return undefined;
  const pacing = { ...(options.pacedPrefill ? { isPaced: true } : {}), ...(options.calibrateStepCost ? { isCalibrated: true } : {}) };
  if (measuredStepCost) return { ...measuredStepCost, maxRatio: maxStepCostRatio, ...pacing };
  if (!info.modelConfig) {
    throw new InvalidRequestError('maxStepCostRatio needs the model shape, which this executor does not give (info.modelConfig); pass measuredStepCost instead', 'maxStepCostRatio');
  }
  return { ...stepCostModel(info.modelConfig, maxStepCostRatio, options), ...pacing };
}
