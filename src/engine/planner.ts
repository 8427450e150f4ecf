/**
 * The "schedule" part of a step: the frozen view the policy decides from, the policy's
 * plan, and the checks that refuse a plan (shape, page accounting) or catch a policy that
 * stalls (an empty plan while requests are queued, an admit/preempt cycle). A refused
 * plan fails the requests it concerns with a typed error naming the cause.
 */
import { SchedulerError } from '../errors.js';
import { checkPlanShape, type LocateRequest } from '../scheduler/plan-check.js';
import { schedule } from '../scheduler/policy.js';
import { StepCostCalibration, type CalibrationRun } from '../scheduler/step-cost-calibration.js';
import type { RequestView, SchedulerConfig, SchedulerView, StepPlan } from '../scheduler/view.js';
import type { ExecutorInfo } from '../executor/step.js';
import type { Endings } from './endings.js';
import type { KvPages } from './kv-pages.js';
import type { RequestSlot } from './request-slot.js';
import type { RequestTable } from './request-table.js';
import { StallDetector } from './stall.js';

export type SchedulingPolicy = (view: SchedulerView, config: SchedulerConfig) => StepPlan;

export interface PlannerOptions extends SchedulerConfig {
  policy?: SchedulingPolicy;
  onPlan?: (view: SchedulerView, plan: StepPlan) => void;
}

export class Planner {
  readonly stall = new StallDetector();
  /** Steps planned so far (the view's stepIndex). */
  stepIndex = 0;

  constructor(
    private readonly table: RequestTable,
    private readonly kv: KvPages,
    private readonly endings: Endings,
    private readonly info: ExecutorInfo,
    private readonly options: PlannerOptions,
  ) {
    this.calibration = options.stepCost?.isCalibrated ? new StepCostCalibration(options.stepCost) : undefined;
  }

  /** Corrects options.stepCost from the steps' times (calibrateStepCost). */
  private readonly calibration: StepCostCalibration | undefined;

  /**
   * A step's wall time, for the calibration; not a lone run's when the executor decodes ahead
   * (it may have been computed before it was asked).
   */
  observeStep(runs: readonly CalibrationRun[], ms: number, decodesAhead: boolean | undefined): void {
    if (this.calibration && !(decodesAhead && runs.length === 1)) this.calibration.observe(runs, ms);
  }

  /** The config the policy gets: the options, with the calibration's current step-cost model when there is one. */
  private config(): SchedulerConfig {
    return this.calibration ? { ...this.options, stepCost: this.calibration.model() } : this.options;
  }

  /** The read-only view the policy decides from: frozen queue snapshots and pure queries. */
  view(): SchedulerView {
    return Object.freeze<SchedulerView>({
      waiting: this.table.waiting.snapshot(),
      running: this.table.runningSnapshot(),
      numFreePages: this.kv.numFree,
      numEvictablePages: this.kv.numEvictable,
      pageSize: this.kv.pageSize,
      stepIndex: this.stepIndex,
      cachedPrefix: (request) => this.kv.peekPrefix(request as RequestSlot),
      reclaimablePages: (request) => this.kv.reclaimable(request as RequestSlot),
      sharesPage: this.kv.cache ? this.sharesPage : undefined,
    });
  }

  /**
   * The policy's plan, checked; 'idle' when nothing is queued, 'refused' when the plan
   * failed requests. `afterIdleStep`: the last step generated nothing (look for a cycle).
   */
  decide(afterIdleStep: boolean): StepPlan | 'idle' | 'refused' {
    if (this.table.isEmpty) return 'idle';
    const view = this.view();
    if (afterIdleStep) {
      const cycle = this.stall.checkRepeat(this.stepIndex, view.running, view.waiting);
      if (cycle !== undefined) return this.failStall(`the scheduling policy is cycling: the same admit/preempt state repeated after ${cycle} steps without a generated token`, this.stall.churnedIds);
    }
    let plan: StepPlan;
    try {
      plan = (this.options.policy ?? schedule)(view, this.config());
      this.options.onPlan?.(view, plan);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.endings.fail([...this.table.all()], new SchedulerError('ERR_POLICY', `the scheduling policy (or the onPlan hook) threw: ${message}`, { cause: error }));
      return 'refused';
    }
    const problems = checkPlanShape(view, plan, this.limits(), this.locate);
    if (problems.length > 0) {
      const named = new Set(problems.map((p) => p.id));
      const concerned = named.has(undefined) ? [...this.table.all()] : [...named].map((id) => this.table.get(id!)).filter((s) => s !== undefined);
      for (const slot of concerned) this.endings.fail([slot], new SchedulerError('ERR_PLAN', `invalid plan: ${problems.map((p) => p.message).join('; ')}`));
      return 'refused';
    }
    if (plan.runs.length === 0 && plan.preempt.length === 0) {
      return this.failStall('the scheduling policy planned nothing while requests were queued', [...this.table.all()].map((s) => s.id));
    }
    this.stepIndex++;
    this.stall.noteChurn(plan.admit);
    this.stall.noteChurn(plan.preempt);
    return plan;
  }

  private failStall(message: string, ids: readonly number[]): 'refused' {
    const slots = ids.map((id) => this.table.get(id)).filter((s) => s !== undefined);
    const targets = slots.length > 0 ? slots : [...this.table.all()];
    for (const slot of targets) {
      this.endings.fail([slot], new SchedulerError('ERR_STALL', `request ${slot.id} starved: ${message} (step ${this.stepIndex}, ${slot.lifecycle})`));
    }
    this.stall.noteProgress();
    return 'refused';
  }

  private readonly sharesPage = (a: RequestView, b: RequestView, start: number): boolean => (a as RequestSlot).sharesTokens(b as RequestSlot, start, this.kv.pageSize);

  /** Finds a live request by id for the plan check, from its machine's phase (O(1)). */
  private readonly locate: LocateRequest = (id) => {
    const slot = this.table.get(id);
    return slot === undefined || slot.isFinal ? undefined : slot;
  };

  private limits(): { maxBatchTokens: number; maxSeqs: number } {
    return { maxBatchTokens: Math.min(this.info.maxBatchTokens, this.options.maxBatchTokens), maxSeqs: Math.min(this.info.maxSeqs, this.options.maxRunning) };
  }
}
