/**
 * Applies a checked plan exactly as written: preempt (pages back, request to the head of
 * the queue), admit (adopt exactly the cached prefix the run starts at), then grow each
 * run's page table by exactly its numNewPages. The engine recomputes nothing and decides
 * nothing here; a run that cannot be applied as planned (its pages are not there) is
 * refused with ERR_PLAN naming the numbers, and only its request fails.
 */
import { CapacityError, NanoServingError, SchedulerError } from '../errors.js';
import { pagesFor, type PlannedRun, type StepPlan } from '../scheduler/view.js';
import type { KvPages } from './kv-pages.js';
import type { RequestSlot } from './request-slot.js';
import type { RequestTable } from './request-table.js';
import type { StatsCounters } from './stats.js';

/** What runs in the step: runs[i] belongs to slots[i]. */
export interface Batch {
  readonly runs: readonly PlannedRun[];
  readonly slots: RequestSlot[];
}

export interface Refusal {
  readonly slot: RequestSlot;
  readonly error: SchedulerError;
}

export class PlanApplier {
  constructor(
    private readonly kv: KvPages,
    private readonly table: RequestTable,
    private readonly counters: StatsCounters,
    private readonly emitState: (slot: RequestSlot) => void,
  ) {}

  apply(plan: StepPlan): { batch: Batch; refused: Refusal[] } {
    for (const id of plan.preempt) this.preempt(this.table.get(id)!);
    const refused: Refusal[] = [];
    const refusedIds = new Set<number>();
    const refuse = (refusal: Refusal): void => {
      refused.push(refusal);
      refusedIds.add(refusal.slot.id);
    };
    if (plan.admit.length > 0) {
      const starts = new Map<number, number>();
      for (const run of plan.runs) starts.set(run.id, run.start);
      for (const id of plan.admit) {
        const refusal = this.admit(this.table.get(id)!, starts.get(id)!);
        if (refusal) refuse(refusal);
      }
    }
    // Every run applies, as a rule: then the batch is the plan's own list (a run skipped or refused makes a copy).
    const slots: RequestSlot[] = new Array(plan.runs.length);
    let runs: PlannedRun[] | undefined;
    let numApplied = 0;
    for (let i = 0; i < plan.runs.length; i++) {
      const run = plan.runs[i];
      const slot = this.table.get(run.id)!;
      const isSkipped = refusedIds.has(run.id) || slot.isFinal;
      const refusal = isSkipped ? undefined : this.grow(slot, run);
      if (isSkipped || refusal) {
        if (refusal) refuse(refusal);
        runs ??= plan.runs.slice(0, i);
        continue;
      }
      runs?.push(run);
      slots[numApplied++] = slot;
    }
    slots.length = numApplied;
    return { batch: { runs: runs ?? plan.runs, slots }, refused };
  }

  private preempt(slot: RequestSlot): void {
    this.kv.publish(slot);
    this.kv.releaseAll(slot);
    slot.numComputed = 0;
    this.table.moveToWaitingHead(slot);
    this.counters.preemptions++;
    slot.send({ type: 'sched.preempt' });
    this.emitState(slot);
  }

  private admit(slot: RequestSlot, start: number): Refusal | undefined {
    const isFirstAdmission = !slot.hasRun;
    this.table.moveToRunning(slot);
    slot.send({ type: 'sched.admit' });
    slot.numComputed = this.kv.adoptPrefix(slot, start);
    if (isFirstAdmission) {
      slot.numCachedPrompt = slot.numComputed;
      this.counters.cachedTokens += slot.numComputed;
      this.counters.promptTokens += slot.numPrompt;
    }
    this.emitState(slot);
    if (slot.numComputed === start) return undefined;
    return { slot, error: new SchedulerError('ERR_PLAN', `plan admits request ${slot.id} at token ${start}, but only ${slot.numComputed} tokens of its prefix are cached now`) };
  }

  private grow(slot: RequestSlot, run: PlannedRun): Refusal | undefined {
    if (run.start !== slot.numComputed) throw new NanoServingError('ERR_INTERNAL', `request ${slot.id}: run at ${run.start}, computed ${slot.numComputed}`);
    const available = run.numNewPages > 0 ? this.kv.numFree + this.kv.numEvictable : 0;
    try {
      if (run.numNewPages > 0) this.kv.grow(slot, run.numNewPages);
    } catch (error) {
      if (!(error instanceof CapacityError)) throw error;
      return { slot, error: new SchedulerError('ERR_PLAN', `plan gives request ${slot.id} ${run.numNewPages} new KV pages, but only ${available} are free or evictable (the policy over-counted pages)`) };
    }
    const need = pagesFor(run.start + run.numTokens, this.kv.pageSize);
    if (slot.pages.length !== need) throw new NanoServingError('ERR_INTERNAL', `request ${slot.id}: ${slot.pages.length} pages after growing, ${need} needed`);
    return undefined;
  }
}
