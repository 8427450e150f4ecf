/**
 * The waiting queue's order, decided here (not in the engine):
 *   - requests that were preempted sit at the head, in arrival order among themselves;
 *   - then new requests by priority (higher first), equal priorities in arrival order.
 * A new request never overtakes a preempted one. The policy reads a frozen copy.
 */
export interface Queued {
  readonly id: number;
  /** Arrival order (smaller = earlier). */
  readonly arrival: number;
  readonly priority: number;
}

export class WaitingQueue<T extends Queued> {
  private readonly items: T[] = [];
  /** items[0, numReturned) are preempted requests returned to the head. */
  private numReturned = 0;
  private frozen: readonly T[] | undefined = Object.freeze([]);

  get length(): number {
    return this.items.length;
  }

  /** A new request: behind every request of its priority or higher, and behind every returned one. */
  push(request: T): void {
    let at = this.items.length;
    while (at > this.numReturned && this.items[at - 1].priority < request.priority) at--;
    this.items.splice(at, 0, request);
    this.frozen = undefined;
  }

  /** A preempted request goes back to the head (behind returned requests that arrived before it). */
  returnToHead(request: T): void {
    let at = 0;
    while (at < this.numReturned && this.items[at].arrival < request.arrival) at++;
    this.items.splice(at, 0, request);
    this.numReturned++;
    this.frozen = undefined;
  }

  /** Removes the request; false if it is not queued. */
  remove(request: T): boolean {
    const at = this.items.indexOf(request);
    if (at < 0) return false;
    this.items.splice(at, 1);
    if (at < this.numReturned) this.numReturned--;
    this.frozen = undefined;
    return true;
  }

  has(request: T): boolean {
    return this.items.includes(request);
  }

  /** The queue in order, as a frozen array (the same array until the queue changes). */
  snapshot(): readonly T[] {
    this.frozen ??= Object.freeze(this.items.slice());
    return this.frozen;
  }
}
