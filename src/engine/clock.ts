/**
 * The engine's clock: its time stamps (TTFT, ITL, step time) and the timers of request
 * deadlines (the request machines' delayed events, machines/lifecycle.ts). Real by default; the
 * testing harness injects a virtual one so a workload runs in simulated time.
 */
import type { TimerClock } from '../../machines/lifecycle.js';
import { MAX_TIMER_MS } from '../../machines/request.js';

export type { TimerClock };

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
