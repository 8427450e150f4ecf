/**
 * The engine's clock: its time stamps (TTFT, ITL, step time) and the timers of request
 * deadlines (passed to each request actor as XState's clock). Real by default; the
 * testing harness injects a virtual one so a workload runs in simulated time.
 */
import { MAX_TIMER_MS } from '../../machines/request.js';

/** XState's clock shape (it takes any object with these two methods). */
export interface TimerClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface EngineClock extends TimerClock {
  /** Milliseconds, monotonic. */
  now(): number;
}

/**
 * performance.now() and Node timers that do not keep the process alive. A delay a Node
 * timer cannot hold (a request without a deadline) arms nothing.
 */
export const realClock: EngineClock = {
  now: () => performance.now(),
  setTimeout: (fn: () => void, ms: number) => (ms >= MAX_TIMER_MS ? undefined : setTimeout(fn, ms).unref()),
  clearTimeout: (handle: unknown) => {
    if (handle !== undefined) clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};
