/**
 * Our engine under test: NanoServingEngine on a NativeExecutor wrapped in a profiler that
 * times each step (the native call, the JS between steps, the scheduler) and tracks the
 * peak KV pages and sequences a step touches.
 */
import { NanoServingEngine } from '../src/engine/engine.js';
import type { EngineStats } from '../src/engine/stats.js';
import { NativeExecutor } from '../src/executor/native.js';
import type { Executor, StepInput, StepOutput } from '../src/executor/step.js';
import { KeptPageTables } from '../src/executor/kept-pages.js';
import type { ModelConfig, TensorMap } from '../src/models/config.js';
import { schedule } from '../src/scheduler/policy.js';
import type { SchedulerConfig, SchedulerView } from '../src/scheduler/view.js';
import type { StepCostCoefficients } from '../src/scheduler/step-cost.js';
import type { KvDtype } from '../src/native/binding.js';
import { drive, type Dispatch } from './drive.js';
import { summarize, type ClientMetrics } from './metrics.js';
import type { BenchRequest } from './workloads.js';

export interface ModelUnderTest {
  name: string;
  config: ModelConfig;
  tensors: TensorMap;
  threads: number;
  weightDtype: 'f32' | 'bf16';
}

export interface EngineKnobs {
  kvCachePages: number;
  pageSize: number;
  maxChunkSize: number;
  maxBatchTokens: number;
  maxRunning: number;
  prefixCache: boolean;
  chunkedPrefill: boolean;
  /** The engine's step-cost bound (absent: chunks of maxChunkSize). */
  maxStepCostRatio?: number;
  /** Step-cost coefficients measured on this machine (absent: derived from the model shape). */
  measuredStepCost?: StepCostCoefficients;
  /** With maxStepCostRatio: the prefill paced to the decodes' growth (the engine's pacedPrefill). */
  pacedPrefill?: boolean;
  /** With maxStepCostRatio: the cost model corrected online from the steps' times (the engine's calibrateStepCost). */
  calibrateStepCost?: boolean;
  /** KV cache element type (default f32). */
  kvDtype?: KvDtype;
  /** false: the policy does not see which waiting prompts share pages with prefills in flight (the no-hold-back baseline). */
  holdBack?: boolean;
}

/** Times every step and what lies between steps; counts distinct pages and sequences per step. */
export class ProfiledExecutor implements Executor {
  readonly info;
  numSteps = 0;
  /** From the call into the addon until its promise resolves (compute + thread-pool round trip). */
  nativeMs = 0;
  /** The synchronous part of the call (validation and copies on the JS thread). */
  callMs = 0;
  /** From one step's resolution to the next step's call: applying results, scheduling, the tick's yield. */
  betweenMs = 0;
  scheduleMs = 0;
  peakPages = 0;
  peakSeqs = 0;
  /** Called with each step's input, its ms (call to resolution) and the executor under the profiler, when set. */
  onStep?: (input: StepInput, ms: number, native: NativeExecutor) => void;
  private lastEnd = 0;
  private readonly stamp: Uint32Array;
  /** The whole page tables behind the steps' deltas (the engine sends only new pages). */
  private readonly kept: KeptPageTables;

  constructor(readonly inner: NativeExecutor) {
    this.info = inner.info;
    this.stamp = new Uint32Array(inner.info.numPages);
    this.kept = new KeptPageTables(inner.info);
  }

  reset(): void {
    this.numSteps = this.nativeMs = this.callMs = this.betweenMs = this.scheduleMs = this.peakPages = this.peakSeqs = 0;
    this.lastEnd = 0;
  }

  /** The built-in policy, timed. */
  readonly policy = (view: SchedulerView, config: SchedulerConfig) => {
    const t0 = performance.now();
    const plan = schedule(view, config);
    this.scheduleMs += performance.now() - t0;
    return plan;
  };

  step(input: StepInput): Promise<StepOutput> {
    const t0 = performance.now();
    if (this.lastEnd > 0) this.betweenMs += t0 - this.lastEnd;
    this.numSteps++;
    this.countPages(input);
    const pending = this.inner.step(input);
    this.callMs += performance.now() - t0;
    return pending.then((output) => {
      this.lastEnd = performance.now();
      this.nativeMs += this.lastEnd - t0;
      this.onStep?.(input, this.lastEnd - t0, this.inner);
      return output;
    });
  }

  private countPages(input: StepInput): void {
    const mark = this.numSteps;
    let distinct = 0;
    for (const pages of this.kept.apply(input)) {
      for (let i = 0; i < pages.length; i++) {
        const page = pages[i];
        if (this.stamp[page] !== mark) {
          this.stamp[page] = mark;
          distinct++;
        }
      }
    }
    this.peakPages = Math.max(this.peakPages, distinct);
    this.peakSeqs = Math.max(this.peakSeqs, input.seqStart.length - 1);
  }

  close(): void {
    this.inner.close();
  }
}

export async function createOurEngine(model: ModelUnderTest, knobs: EngineKnobs): Promise<{ engine: NanoServingEngine; profiler: ProfiledExecutor }> {
  const native = NativeExecutor.create({
    config: model.config,
    tensors: model.tensors,
    weightDtype: model.weightDtype,
    kvDtype: knobs.kvDtype,
    numPages: knobs.kvCachePages,
    pageSize: knobs.pageSize,
    numThreads: model.threads,
    maxBatchTokens: knobs.maxBatchTokens,
    maxSeqs: knobs.maxRunning,
  });
  const profiler = new ProfiledExecutor(native);
  const { holdBack = true, ...options } = knobs;
  const policy = holdBack ? profiler.policy : (view: SchedulerView, config: SchedulerConfig) => profiler.policy({ ...view, sharesPage: undefined }, config);
  const engine = await NanoServingEngine.create({ ...options, executor: profiler, policy, maxWaiting: 1 << 20 });
  return { engine, profiler };
}

/** Greedy, EOS ignored, so every request produces exactly maxTokens tokens. */
export function ourDispatch(engine: NanoServingEngine): Dispatch {
  return (request, onToken) => {
    const handle = engine.submit(request.prompt, { maxTokens: request.maxTokens, temperature: 0, ignoreEos: true }, { detached: true });
    handle.tokens$.subscribe(onToken);
    return handle.done.then(() => undefined);
  };
}

export interface EngineMetrics {
  steps: number;
  tokensPerStep: number;
  prefillTokens: number;
  decodeTokens: number;
  cachedTokens: number;
  cacheHitRate: number;
  preemptions: number;
  peakPages: number;
  peakSeqs: number;
  /** Pages a contiguous allocation of the full context per running request would hold. */
  naivePages: number;
  /** naivePages / peakPages. */
  kvSavings: number;
  /** Per step, milliseconds. */
  profile: { nativeMs: number; callMs: number; betweenMs: number; scheduleMs: number; jsShare: number };
}

export type OurMetrics = ClientMetrics & { engine: EngineMetrics };

function engineMetrics(before: EngineStats, after: EngineStats, p: ProfiledExecutor, contextLength: number, pageSize: number): EngineMetrics {
  const steps = after.steps - before.steps;
  const prefillTokens = after.prefillTokens - before.prefillTokens;
  const decodeTokens = after.decodeTokens - before.decodeTokens;
  const cachedTokens = after.cachedTokens - before.cachedTokens;
  const promptTokens = after.promptTokens - before.promptTokens;
  const naivePages = p.peakSeqs * Math.ceil(contextLength / pageSize);
  const per = (ms: number): number => (p.numSteps === 0 ? 0 : ms / p.numSteps);
  const stepTotal = p.nativeMs + p.betweenMs;
  return {
    steps,
    tokensPerStep: steps === 0 ? 0 : (prefillTokens + decodeTokens) / steps,
    prefillTokens,
    decodeTokens,
    cachedTokens,
    cacheHitRate: promptTokens === 0 ? 0 : cachedTokens / promptTokens,
    preemptions: after.preemptions - before.preemptions,
    peakPages: p.peakPages,
    peakSeqs: p.peakSeqs,
    naivePages,
    kvSavings: p.peakPages === 0 ? 0 : naivePages / p.peakPages,
    profile: {
      nativeMs: per(p.nativeMs - p.callMs),
      callMs: per(p.callMs),
      betweenMs: per(p.betweenMs),
      scheduleMs: per(p.scheduleMs),
      jsShare: stepTotal === 0 ? 0 : (p.betweenMs + p.callMs) / stepTotal,
    },
  };
}

/** One run on a fresh engine (so no cache carries over): warm up, then drive the workload; onStep sees each step of the workload (not the warm-up). */
export async function runOurs(model: ModelUnderTest, knobs: EngineKnobs, requests: readonly BenchRequest[], concurrency: number, onStep?: (input: StepInput, ms: number, native: NativeExecutor) => void): Promise<OurMetrics> {
  const { engine, profiler } = await createOurEngine(model, knobs);
  try {
    const warm = Array.from({ length: 8 }, (_, i) => model.config.vocabSize - 1 - i);
    await engine.submit(warm, { maxTokens: 4, ignoreEos: true }).done;
    profiler.reset();
    profiler.onStep = onStep;
    const before = engine.stats();
    const { records, startedAt } = await drive(requests, concurrency, ourDispatch(engine));
    const metrics = summarize(records, startedAt);
    return { ...metrics, engine: engineMetrics(before, engine.stats(), profiler, model.config.contextLength, knobs.pageSize) };
  } finally {
    await engine.close();
  }
}
