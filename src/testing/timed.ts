/**
 * Workloads in virtual time: requests arrive at given times (see arrivals.ts), every step
 * takes what the latency model says, and TTFT, ITL and throughput come out in virtual
 * milliseconds, deterministically, with no model and no sleeping. The same workload can
 * be driven through the real engine (bench/sim-vs-real.ts compares the two).
 */
import { EngineCore, type SchedulingPolicy } from '../engine/core.js';
import type { RequestResult } from '../engine/handle.js';
import { ByteTokenizer } from '../engine/tokenizer.js';
import { SimulatedExecutor } from '../executor/simulated.js';
import type { SchedulerConfig } from '../scheduler/view.js';
import { stepShape, type LatencyModel } from './latency.js';
import { VirtualClock } from './virtual-clock.js';

export interface TimedRequest {
  prompt: readonly number[];
  maxTokens: number;
  /** Milliseconds from the start. */
  arrivalMs: number;
}

export interface TimedEngineShape extends SchedulerConfig {
  numPages: number;
  pageSize: number;
  prefixCache: boolean;
  vocabSize: number;
}

export interface LatencyStats {
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

export interface TimedReport {
  results: RequestResult[];
  /** Virtual milliseconds from the first arrival to the last finish. */
  makespanMs: number;
  outputTokPerS: number;
  ttftMs: LatencyStats;
  /** Inter-token latency over every token after the first, all requests. */
  itlMs: LatencyStats;
  numSteps: number;
}

export async function runTimedWorkload(
  requests: readonly TimedRequest[],
  shape: TimedEngineShape,
  options: { latency: LatencyModel; policy?: SchedulingPolicy },
): Promise<TimedReport> {
  const clock = new VirtualClock();
  const executor = new SimulatedExecutor({
    vocabSize: shape.vocabSize,
    numPages: shape.numPages,
    pageSize: shape.pageSize,
    maxBatchTokens: shape.maxBatchTokens,
    maxSeqs: shape.maxRunning,
    clock,
    latencyMs: (input, idleBeforeMs) => options.latency(stepShape(input, idleBeforeMs)),
  });
  const core = new EngineCore(executor, new ByteTokenizer(shape.vocabSize, []), { ...shape, maxWaiting: Infinity, clock, policy: options.policy });
  const done: Array<Promise<RequestResult>> = [];
  const tokenTimes: number[][] = requests.map(() => []);
  requests.forEach((request, i) => {
    clock.setTimeout(() => {
      const handle = core.submit(request.prompt, { maxTokens: request.maxTokens, ignoreEos: true });
      handle.tokens$.subscribe(() => tokenTimes[i].push(clock.now()));
      done[i] = handle.done;
    }, request.arrivalMs);
  });
  // Steps advance the clock themselves; when the engine is idle, jump to the next arrival.
  while (done.filter(Boolean).length < requests.length || !core.table.isEmpty) {
    await core.whenIdle();
    if (clock.nextTimerAt !== Infinity) clock.advanceTo(clock.nextTimerAt);
    else if (core.table.isEmpty && done.filter(Boolean).length === requests.length) break;
    else await new Promise((resolve) => setImmediate(resolve));
  }
  const results = await Promise.all(done);
  const numSteps = core.stats().steps;
  await core.close();
  const first = Math.min(...requests.map((r) => r.arrivalMs));
  const last = Math.max(...tokenTimes.map((t) => t[t.length - 1] ?? 0));
  const output = results.reduce((sum, r) => sum + r.outputTokens, 0);
  const itl = tokenTimes.flatMap((t) => t.slice(1).map((time, k) => time - t[k]));
  return {
    results,
    makespanMs: last - first,
    outputTokPerS: (output * 1000) / Math.max(1e-9, last - first),
    ttftMs: summarize(results.map((r) => r.metrics.ttftMs)),
    itlMs: summarize(itl),
    numSteps,
  };
}

export function summarize(values: readonly number[]): LatencyStats {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
  const mean = sorted.length === 0 ? NaN : sorted.reduce((s, v) => s + v, 0) / sorted.length;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), mean };
}
