/**
 * The client side of a run, shared by every engine under test: requests go out at their
 * arrival times, at most `concurrency` in flight (vLLM's --max-concurrency), and each
 * token's arrival is timestamped.
 */
import type { RequestRecord } from './metrics.js';
import type { BenchRequest } from './workloads.js';

/** Hands one request to an engine; calls onToken on each output token; resolves when it is done. */
export type Dispatch = (request: BenchRequest, onToken: () => void) => Promise<void>;

/** A counting semaphore whose acquire is synchronous when a permit is free. */
class Permits {
  private waiters: Array<() => void> = [];
  constructor(private free: number) {}

  tryAcquire(): boolean {
    if (this.free === 0) return false;
    this.free--;
    return true;
  }
  acquire(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs the requests; all-at-once requests are dispatched in the same task (so an engine
 * sees them together). Returns one record per request, in workload order.
 */
export async function drive(requests: readonly BenchRequest[], concurrency: number, dispatch: Dispatch): Promise<{ records: RequestRecord[]; startedAt: number }> {
  const permits = new Permits(concurrency);
  const startedAt = performance.now();
  const inFlight: Array<Promise<void>> = [];
  const records: RequestRecord[] = [];
  for (const request of requests) {
    const wait = startedAt + request.arrivalMs - performance.now();
    if (wait > 0) await sleep(wait);
    if (!permits.tryAcquire()) await permits.acquire();
    const record: RequestRecord = { promptTokens: request.prompt.length, dispatchedAt: performance.now(), tokenTimes: [], doneAt: 0 };
    records.push(record);
    const onToken = (): void => {
      record.tokenTimes.push(performance.now());
    };
    inFlight.push(
      dispatch(request, onToken).finally(() => {
        record.doneAt = performance.now();
        permits.release();
      }),
    );
  }
  await Promise.all(inFlight);
  return { records, startedAt };
}
