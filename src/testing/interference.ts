/**
 * Long-prompt interference in virtual time (issue 17's workload): 8 decode streams, then a
 * 4,000-token prompt arrives once each stream has produced `before` tokens; the run stops at
 * the prompt's first token. The streams' ITL p99 during the prefill over their p50 before it
 * is the target's ratio. Deterministic: the simulated executor's step latency is a model of
 * the step (a linear one, or any function of the step's input, e.g. one where a prefill
 * run's K/V read costs less than a decode's), so a policy or a kernel speed can be tried
 * here before anything is measured. test/unit/interference-sim.test.ts and
 * bench/interference-floor.ts use it.
 */
import { EngineCore, type CoreOptions } from '../engine/core.js';
import { ByteTokenizer } from '../engine/tokenizer.js';
import type { StepInput } from '../executor/step.js';
import { SimulatedExecutor } from '../executor/simulated.js';
import { linearLatency, stepShape, type LinearLatency } from './latency.js';
import { summarize } from './timed.js';
import { VirtualClock } from './virtual-clock.js';

export interface InterferenceWorkload {
  readonly numStreams: number;
  readonly streamPromptLen: number;
  readonly longPromptLen: number;
  /** Tokens each stream produces before the long prompt arrives. */
  readonly before: number;
}

/**
 * Step latencies of the small preset on the 2-core AVX-512 Zen 5 (2 threads): the fixed,
 * token and sampling terms from `bench:long --grid`, the attention's keys and K/V read from
 * the register-blocked kernel's quiet-window bench:long of 2026-12-02 (8 decodes at 100 and
 * 4,000 tokens of context, 16-token chunks at 0 and 3,984). q8_0: its K/V read at ~0.82 of
 * bf16's time (0.76-0.88 in bench:long and the step-cost fit beside bf16).
 */
export const ZEN5_SMALL: Readonly<Record<'f32' | 'bf16' | 'q8_0', LinearLatency>> = (() => {
  const f32: LinearLatency = { fixedMs: 1.2, perTokenMs: 0.031, perSeqMs: 0, perContextMs: 4.3e-5, perKvReadMs: 2.9e-4, perSampledMs: 0.05, wakeMs: 0 };
  const bf16: LinearLatency = { ...f32, fixedMs: 1.03, perContextMs: 4.1e-5, perKvReadMs: 2.0e-4 };
  return { f32, bf16, q8_0: { ...bf16, perKvReadMs: 0.82 * bf16.perKvReadMs } };
})();

export const ISSUE_17_WORKLOAD: InterferenceWorkload = { numStreams: 8, streamPromptLen: 32, longPromptLen: 4000, before: 36 };

export interface SimulatedInterference {
  /** The streams' ITL p99 during the prefill / their p50 before it. */
  readonly spikeRatio: number;
  readonly itlBeforeP50Ms: number;
  readonly itlDuringP99Ms: number;
  readonly ttftMs: number;
  readonly numSteps: number;
  /** Tokens the first stream produced during the prefill (or the control's window). */
  readonly tokensDuring: number;
}

export type StepLatency = LinearLatency | ((input: StepInput) => number);

/**
 * Runs the workload. With `controlTokens` > 0, the control: no long prompt; the window is the
 * streams' next controlTokens tokens (their contexts grow as much, nothing is prefilled).
 */
export async function simulateInterference(
  latency: StepLatency,
  knobs: Partial<CoreOptions>,
  controlTokens = 0,
  workload: InterferenceWorkload = ISSUE_17_WORKLOAD,
): Promise<SimulatedInterference> {
  const clock = new VirtualClock();
  const ms = typeof latency === 'function' ? latency : stepLatencyOf(latency);
  const executor = new SimulatedExecutor({
    vocabSize: 256, contextLength: 16384, numPages: 2048, pageSize: 16, maxBatchTokens: 8192, maxSeqs: 32, clock,
    latencyMs: (input) => ms(input),
  });
  const core = new EngineCore(executor, new ByteTokenizer(256, []), {
    maxBatchTokens: 8192, maxRunning: 32, maxChunkSize: 256, chunkedPrefill: true, prefixCache: false, maxWaiting: Infinity, clock, ...knobs,
  });
  const prompt = (n: number, salt: number): number[] => Array.from({ length: n }, (_, j) => 1 + ((salt * 31 + j * 7) % 250));
  const times: number[][] = [];
  let arrived = -1, firstToken = -1, atArrival: number[] = [];
  let finish = (): void => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const end = (): void => {
    if (firstToken >= 0) return;
    firstToken = clock.now();
    finish();
  };
  // Decided inside the token callbacks, so the prompt arrives at the same virtual step every run.
  const onStreamToken = (): void => {
    if (arrived < 0 && times.every((t) => t.length >= workload.before)) {
      arrived = clock.now();
      atArrival = times.map((t) => t.length);
      if (controlTokens === 0) core.submit(prompt(workload.longPromptLen, 99), { maxTokens: 1, ignoreEos: true }).tokens$.subscribe(end);
    }
    if (controlTokens > 0 && arrived >= 0 && times.every((t, k) => t.length >= atArrival[k] + controlTokens)) end();
  };
  const streams = Array.from({ length: workload.numStreams }, (_, i) => {
    const handle = core.submit(prompt(workload.streamPromptLen, i), { maxTokens: 12_000, ignoreEos: true });
    times.push([]);
    handle.tokens$.subscribe(() => {
      times[i].push(clock.now());
      onStreamToken();
    });
    return handle;
  });
  await finished;
  const numSteps = core.stats().steps;
  for (const s of streams) s.abort();
  await core.close();
  const gaps = (from: number, to: number): number[] => times.flatMap((t) => t.slice(1).flatMap((time, k) => (t[k] >= from && time <= to ? [time - t[k]] : [])));
  const before = summarize(gaps(times[0][4], arrived)), during = summarize(gaps(arrived, firstToken));
  return {
    spikeRatio: during.p99 / before.p50,
    itlBeforeP50Ms: before.p50,
    itlDuringP99Ms: during.p99,
    ttftMs: firstToken - arrived,
    numSteps,
    tokensDuring: times[0].filter((t) => t > arrived && t <= firstToken).length,
  };
}

function stepLatencyOf(latency: LinearLatency): (input: StepInput) => number {
  const model = linearLatency(latency);
  return (input) => model(stepShape(input, 0));
}
