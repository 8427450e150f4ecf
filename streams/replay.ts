/**
 * A per-request stream that replays what was already produced, then goes live: each
 * subscriber sees every item exactly once and in order, whenever it subscribes. Items
 * are buffered beside the request, so a slow subscriber never stalls the engine.
 *
 * Each subscriber keeps a cursor into the buffer and one delivery loop runs at a time, so
 * a subscriber that aborts, subscribes another or pushes from inside its callback never
 * makes another subscriber miss, repeat or reorder an item; the ending reaches each
 * subscriber after every item.
 */
import { Observable, type Subscriber } from 'rxjs';

interface Cursor<T> {
  subscriber: Subscriber<T>;
  /** Index of the next buffer item this subscriber gets. */
  next: number;
  isEnded: boolean;
}

type Ending = { kind: 'complete' } | { kind: 'error'; error: unknown };

export class ReplayChannel<T> {
  private readonly cursors = new Set<Cursor<T>>();
  /** The only cursor, while there is exactly one (the common case: one subscriber per stream). */
  private sole: Cursor<T> | undefined;
  private ending: Ending | undefined;
  private isDelivering = false;
  private hasHadSubscriber = false;

  /** `snapshot(i)` reads item i of the buffer; `count()` is how many exist now. */
  constructor(
    private readonly count: () => number,
    private readonly snapshot: (index: number) => T,
    private readonly onLastUnsubscribe: () => void,
    /** Runs before a subscriber reads the buffer, so a lazily filled buffer can catch up. */
    private readonly beforeSubscribe?: () => void,
  ) {}

  /** Call after appending an item to the buffer (subscribers read it from there). */
  push(_item: T): void {
    const cursor = this.sole;
    if (cursor === undefined) {
      if (this.cursors.size > 0) this.deliver();
      return;
    }
    if (this.isDelivering || cursor.isEnded || cursor.subscriber.closed || cursor.next !== this.count() - 1) {
      this.deliver();
      return;
    }
    // One subscriber owed exactly this item: hand it over without the delivery loop's scan.
    this.isDelivering = true;
    try {
      cursor.subscriber.next(this.snapshot(cursor.next++));
    } finally {
      this.isDelivering = false;
    }
    // Whatever its callback did (pushed, ended, subscribed, unsubscribed) the loop settles now.
    if (this.ending || this.sole !== cursor || cursor.next < this.count()) this.deliver();
  }

  complete(): void {
    this.end({ kind: 'complete' });
  }

  error(error: unknown): void {
    this.end({ kind: 'error', error });
  }

  get subscriberCount(): number {
    return this.cursors.size;
  }

  get wasSubscribed(): boolean {
    return this.hasHadSubscriber;
  }

  observable(): Observable<T> {
    return new Observable<T>((subscriber) => {
      const cursor: Cursor<T> = { subscriber, next: 0, isEnded: false };
      this.cursors.add(cursor);
      this.sole = this.cursors.size === 1 ? cursor : undefined;
      this.hasHadSubscriber = true;
      this.beforeSubscribe?.();
      this.deliver();
      return () => {
        if (!this.cursors.delete(cursor)) return;
        this.sole = this.cursors.size === 1 ? this.cursors.values().next().value : undefined;
        if (this.cursors.size === 0) this.onLastUnsubscribe();
      };
    });
  }

  private end(ending: Ending): void {
    if (this.ending) return;
    this.ending = ending;
    this.deliver();
  }

  /** Brings every subscriber to the end of the buffer, then gives the ending; a re-entrant call leaves it to the loop running. */
  private deliver(): void {
    if (this.isDelivering) return;
    this.isDelivering = true;
    try {
      for (let cursor = this.nextDue(); cursor; cursor = this.nextDue()) {
        if (cursor.next < this.count()) {
          cursor.subscriber.next(this.snapshot(cursor.next++));
          continue;
        }
        cursor.isEnded = true;
        if (this.ending?.kind === 'error') cursor.subscriber.error(this.ending.error);
        else cursor.subscriber.complete();
      }
    } finally {
      this.isDelivering = false;
    }
  }

  /** A subscriber still owed an item, or its ending once the channel has ended. */
  private nextDue(): Cursor<T> | undefined {
    const count = this.count();
    for (const cursor of this.cursors) {
      if (cursor.isEnded || cursor.subscriber.closed) continue;
      if (cursor.next < count || this.ending) return cursor;
    }
    return undefined;
  }
}
