/**
 * A per-request stream that replays what was already produced, then goes live: each
 * subscriber sees every item exactly once and in order, whenever it subscribes. Items
 * are buffered beside the request, so a slow subscriber never stalls the engine.
 */
import { Observable, Subject } from 'rxjs';

export class ReplayChannel<T> {
  private readonly live = new Subject<T>();
  private numSubscribers = 0;
  private hasHadSubscriber = false;

  /** `snapshot(i)` reads item i of the buffer; `count()` is how many exist now. */
  constructor(
    private readonly count: () => number,
    private readonly snapshot: (index: number) => T,
    private readonly onLastUnsubscribe: () => void,
    /** Runs before a subscriber reads the buffer, so a lazily filled buffer can catch up. */
    private readonly beforeSubscribe?: () => void,
  ) {}

  /** Call after appending an item to the buffer. */
  push(item: T): void {
    if (this.live.observed) this.live.next(item);
  }

  complete(): void {
    this.live.complete();
  }

  error(error: unknown): void {
    this.live.error(error);
  }

  get subscriberCount(): number {
    return this.numSubscribers;
  }

  get wasSubscribed(): boolean {
    return this.hasHadSubscriber;
  }

  observable(): Observable<T> {
    return new Observable<T>((subscriber) => {
      this.numSubscribers++;
      this.hasHadSubscriber = true;
      this.beforeSubscribe?.();
      const numBuffered = this.count();
      for (let i = 0; i < numBuffered && !subscriber.closed; i++) subscriber.next(this.snapshot(i));
      const inner = this.live.subscribe(subscriber);
      return () => {
        inner.unsubscribe();
        this.numSubscribers--;
        if (this.numSubscribers === 0) this.onLastUnsubscribe();
      };
    });
  }
}
