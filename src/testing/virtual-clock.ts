/**
 * A deterministic virtual clock for the engine (EngineClock): time moves only when the
 * harness advances it (the simulated executor by each step's modelled latency, the
 * driver to the next arrival when the engine is idle). Timers (request deadlines,
 * scheduled arrivals) fire in time order, ties in the order they were set. No real sleep.
 */
import { MAX_TIMER_MS } from '../../machines/request.js';
import type { EngineClock } from '../engine/clock.js';

interface Timer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

export class VirtualClock implements EngineClock {
  private time = 0;
  private nextId = 1;
  private timers: Timer[] = [];

  now(): number {
    return this.time;
  }

  /** A delay of MAX_TIMER_MS or more (a request without a deadline) arms nothing, as with real timers. */
  setTimeout(fn: () => void, ms: number): number {
    if (ms >= MAX_TIMER_MS) return 0;
    const timer = { id: this.nextId++, at: this.time + Math.max(0, ms), fn };
    let at = this.timers.length;
    while (at > 0 && this.timers[at - 1].at > timer.at) at--;
    this.timers.splice(at, 0, timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    const at = this.timers.findIndex((t) => t.id === handle);
    if (at >= 0) this.timers.splice(at, 1);
  }

  /** When the next timer is due (Infinity = none). */
  get nextTimerAt(): number {
    return this.timers[0]?.at ?? Infinity;
  }

  /** Moves time forward by ms, firing every timer due on the way, each at its own time. */
  advance(ms: number): void {
    this.advanceTo(this.time + ms);
  }

  advanceTo(target: number): void {
    while (this.timers.length > 0 && this.timers[0].at <= target) {
      const timer = this.timers.shift()!;
      this.time = Math.max(this.time, timer.at);
      timer.fn();
    }
    this.time = Math.max(this.time, target);
  }
}
