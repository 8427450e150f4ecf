/**
 * How requests end: finish (stop, length, timeout), abort, or fail. Ending settles the
 * client's side at once (result, streams); the pages are given back by release(), right
 * away or, while a step is in flight, right after it (the machine waits in `releasing`).
 */
import type { FinishReason } from '../../machines/request.js';
import type { NanoServingError } from '../errors.js';
import type { EngineClock } from './clock.js';
import { resultOf } from './handle.js';
import type { KvPages } from './kv-pages.js';
import type { RequestSlot } from './request-slot.js';
import type { RequestTable } from './request-table.js';
import type { StatsCounters } from './stats.js';
import type { TokenOutput } from './token-output.js';

export interface EndingsHost {
  readonly kv: KvPages;
  readonly table: RequestTable;
  readonly counters: StatsCounters;
  readonly clock: EngineClock;
  readonly output: TokenOutput;
  readonly isStepInFlight: boolean;
  emitState(slot: RequestSlot): void;
  notifyIfIdle(): void;
}

export class Endings {
  /** Ended requests whose pages are still held (their machines are in `releasing`). */
  private pending: RequestSlot[] = [];

  constructor(private readonly host: EndingsHost) {}

  /** Ends a live request with a finish reason (the deadline's 'timeout' arrives through the machine itself). */
  end(slot: RequestSlot, reason: FinishReason): void {
    if (slot.isFinal && reason !== 'timeout') return;
    if (reason === 'abort') slot.send({ type: 'client.abort' });
    else if (reason !== 'timeout') slot.send({ type: 'sched.finish', reason });
    const { counters, output } = this.host;
    if (reason === 'abort') counters.aborted++;
    else if (reason === 'timeout') counters.timedOut++;
    else counters.finished++;
    output.finishText(slot);
    this.host.emitState(slot);
    slot.outputs.resolve(resultOf(slot, reason, this.host.clock.now()));
    slot.outputs.tokens.complete();
    slot.outputs.text.complete();
    this.pending.push(slot);
    this.releaseSoon();
  }

  /** Fails live requests with a typed error naming the cause. */
  fail(slots: Iterable<RequestSlot>, error: NanoServingError): void {
    for (const slot of slots) {
      if (slot.isFinal) continue;
      slot.send({ type: 'sched.fail', error });
      this.host.counters.failed++;
      this.host.emitState(slot);
      slot.outputs.reject(error);
      slot.outputs.tokens.error(error);
      slot.outputs.text.error(error);
      this.pending.push(slot);
    }
    this.releaseSoon();
  }

  /** Gives back the pages of every ended request and forgets it (never while a step is in flight). */
  release(): void {
    const { kv, table } = this.host;
    const ended = this.pending;
    this.pending = [];
    for (const slot of ended) {
      if (slot.snapshot.context.outcome === 'finished') kv.publish(slot);
      kv.releaseAll(slot);
      table.remove(slot);
      slot.send({ type: 'sched.release' });
      this.host.emitState(slot);
    }
    this.host.notifyIfIdle();
  }

  private releaseSoon(): void {
    if (!this.host.isStepInFlight) this.release();
  }
}
