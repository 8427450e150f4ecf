/**
 * Where each live request sits for the scheduler: the waiting queue (its order decided in
 * src/scheduler/queue.ts) or the running list (admission order). The phase itself lives
 * in each request's lifecycle machine; membership here is kept in step with it and asserted.
 */
import { NanoServingError } from '../errors.js';
import { WaitingQueue } from '../scheduler/queue.js';
import type { RequestSlot } from './request-slot.js';

export class RequestTable {
  readonly waiting = new WaitingQueue<RequestSlot>();
  private running: RequestSlot[] = [];
  private frozenRunning: readonly RequestSlot[] | undefined;
  private readonly byId = new Map<number, RequestSlot>();

  get numWaiting(): number {
    return this.waiting.length;
  }

  get numRunning(): number {
    return this.running.length;
  }

  get isEmpty(): boolean {
    return this.byId.size === 0;
  }

  /** Every request not yet released. */
  all(): IterableIterator<RequestSlot> {
    return this.byId.values();
  }

  /** Running requests, oldest admission first (a frozen array, the same until the list changes). */
  runningSnapshot(): readonly RequestSlot[] {
    this.frozenRunning ??= Object.freeze(this.running.slice());
    return this.frozenRunning;
  }

  add(slot: RequestSlot): void {
    this.byId.set(slot.id, slot);
    this.waiting.push(slot);
  }

  get(id: number): RequestSlot | undefined {
    return this.byId.get(id);
  }

  moveToRunning(slot: RequestSlot): void {
    if (!this.waiting.remove(slot)) throw new NanoServingError('ERR_INTERNAL', `request ${slot.id} is not waiting`);
    this.running.push(slot);
    this.frozenRunning = undefined;
  }

  moveToWaitingHead(slot: RequestSlot): void {
    this.dropRunning(slot);
    this.waiting.returnToHead(slot);
  }

  /** Forgets a released request. */
  remove(slot: RequestSlot): void {
    if (!this.waiting.remove(slot)) this.dropRunning(slot);
    this.byId.delete(slot.id);
  }

  isRunning(slot: RequestSlot): boolean {
    const phase = slot.lifecycle;
    return phase === 'prefilling' || phase === 'decoding' || (phase === 'releasing' && this.running.includes(slot));
  }

  private dropRunning(slot: RequestSlot): void {
    const at = this.running.indexOf(slot);
    if (at < 0) return;
    this.running.splice(at, 1);
    this.frozenRunning = undefined;
  }
}
