/**
 * Long-prompt interference: K steady decode streams, then one long prompt arrives. The
 * streams' inter-token latency before it, while it is prefilled, and after its first token
 * shows how well chunked prefill shields decoding from a big prefill.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import type { StepInput } from '../src/executor/step.js';
import { interTokenGaps, percentiles, type Percentiles, type RequestRecord } from './metrics.js';
import { createOurEngine, type EngineKnobs, type ModelUnderTest } from './ours.js';
import { StreamWatch } from './interference-watch.js';
import { gapsOutside, stallSpans } from './stall-gaps.js';
import { rng } from './workloads.js';
import { runCost, stepCostModel, type StepCostCoefficients } from '../src/scheduler/step-cost.js';

export interface InterferenceShape {
  numStreams: number;
  streamPromptLen: number;
  longPromptLen: number;
  /** Stream tokens collected before the long prompt arrives, and after its first token. */
  windowTokens: number;
}

export interface InterferenceResult {
  label: string;
  maxChunkSize: number | null;
  maxStepCostRatio?: number;
  /** The prefill paced to the decodes' growth (the engine's pacedPrefill). */
  pacedPrefill?: boolean;
  /** The cost model corrected online from the steps' times (the engine's calibrateStepCost). */
  calibrateStepCost?: boolean;
  kvDtype: string;
  /** The step-cost coefficients measured on this machine, when the variant used them (else derived from the model shape). */
  measuredStepCost?: StepCostCoefficients;
  itlBeforeMs: Percentiles;
  itlDuringMs: Percentiles;
  itlAfterMs: Percentiles;
  longPromptTtftMs: number;
  /** ITL p99 during the long prefill / ITL p50 before it (target <= 2). */
  spikeRatio: number;
  /** A diagnostic, not the target: the same with the gaps in a stall (a step over 8x the steps before) or its 4 followers left out (stall-gaps.ts). */
  spikeRatioWithoutStalls?: number;
  /** The executor's steps (call to resolution) before the long prompt and while it is prefilled. */
  steps: StepTrace;
  /** What lay inside the gaps at or above the during p99 (the gaps that set the ratio). */
  tail: TailAttribution;
  /** Tokens each stream produced during the prefill (median over the streams). */
  tokensDuring: number;
  /**
   * The same streams alone, no long prompt, over as many tokens as they produced during the
   * prefill: their ITL p99 in that window / their p50 before. What their own growing contexts
   * and the steps' variance give without any prefill (absent when not run).
   */
  /** The spike ratios of the variant's warm-up runs, discarded before the measured ones (benchInterference's warmUps). */
  warmUpRatios?: number[];
  control?: { itlBeforeMs: Percentiles; itlWindowMs: Percentiles; ratio: number };
}

/** The ITL gaps at or above the p99 during the prefill, each attributed to the steps that ended inside it. */
export interface TailAttribution {
  numGaps: number;
  /** Gaps holding exactly one step (so a step with the stream's decode), and those holding more (a step went without it). */
  numOneStep: number;
  numSeveralSteps: number;
  /** Gaps whose steps include one without all the streams' decodes, or the prompt's last chunk (its first token sampled). */
  numWithoutDecodes: number;
  numWithFinalChunk: number;
  /** Gaps holding a garbage-collection pause of the JS thread, and the pauses' ms in them (largest). */
  numWithGc: number;
  gcMsMax: number;
  /** Median of the gaps' ms, of their steps' ms (call to resolution), and of the rest (JS between steps, the event loop). */
  gapMsP50: number;
  stepMsP50: number;
  restMsP50: number;
  restMsMax: number;
  /** The between-steps ms (resolution to the next call) before the long prompt and during it, p50. */
  betweenBeforeMsP50: number;
  betweenDuringMsP50: number;
}

/** One executor step as the bench saw it: when it ended, its ms, and what it carried. */
export interface TracedStep {
  end: number;
  ms: number;
  /** The long prompt's chunk (0: none) and its start. */
  chunk: number;
  start: number;
  /** The chunk ends the prompt (its first token is sampled in this step). */
  isFinal: boolean;
  numDecodes: number;
  /** The cost model's prediction for the step's decodes alone. */
  decodesCost: number;
}

/**
 * Attributes the gaps at or above `threshold` of the streams' token times whose later token
 * came in [from, to): the steps that ended inside each gap (after its first token, up to its
 * second), the GC pauses that began inside it, and the rest of its ms (not in a step).
 */
export function attributeTail(tokenTimes: readonly (readonly number[])[], steps: readonly TracedStep[], gcs: readonly { start: number; ms: number }[], from: number, to: number, threshold: number, numStreams: number): Omit<TailAttribution, 'betweenBeforeMsP50' | 'betweenDuringMsP50'> {
  const gaps: number[] = [], stepMs: number[] = [], rest: number[] = [];
  let numOneStep = 0, numSeveralSteps = 0, numWithoutDecodes = 0, numWithFinalChunk = 0, numWithGc = 0, gcMsMax = 0;
  for (const times of tokenTimes) {
    for (let i = 1; i < times.length; i++) {
      const a = times[i - 1], b = times[i], gap = b - a;
      if (b < from || b >= to || gap < threshold) continue;
      const inside = steps.filter((st) => st.end > a && st.end <= b);
      const ms = inside.reduce((sum, st) => sum + st.ms, 0);
      gaps.push(gap);
      stepMs.push(ms);
      rest.push(gap - ms);
      if (inside.length === 1) numOneStep++;
      else if (inside.length > 1) numSeveralSteps++;
      if (inside.some((st) => st.numDecodes < numStreams)) numWithoutDecodes++;
      if (inside.some((st) => st.isFinal)) numWithFinalChunk++;
      const gc = gcs.filter((g) => g.start > a && g.start < b).reduce((sum, g) => sum + g.ms, 0);
      if (gc > 0) numWithGc++, gcMsMax = Math.max(gcMsMax, gc);
    }
  }
  const p50 = (v: number[]): number => percentiles(v).p50;
  return {
    numGaps: gaps.length, numOneStep, numSeveralSteps, numWithoutDecodes, numWithFinalChunk, numWithGc, gcMsMax,
    gapMsP50: p50(gaps), stepMsP50: p50(stepMs), restMsP50: p50(rest), restMsMax: rest.reduce((m, x) => Math.max(m, x), 0),
  };
}

/** Step times of the run, and where the long prompt's chunks stood in the slowest steps. */
export interface StepTrace {
  /** Median step ms of the streams alone before the long prompt arrived. */
  beforeP50Ms: number;
  /** Step ms while the long prompt was prefilled. */
  duringMs: Percentiles;
  /** Steps carrying a chunk of the long prompt, and those above 2x beforeP50Ms. */
  numWithChunk: number;
  numOver2x: number;
  /** The same for the chunks that start in the last 10 % of the prompt. */
  numNearEnd: number;
  numNearEndOver2x: number;
  /** Median size of the chunks near the end. */
  nearEndChunkP50: number;
  /** Steps during the prefill over 8x beforeP50Ms: the machine took a core from them (a stall; on a shared machine under SCHED_FIFO, the kernel's fair server, 50 ms each second per CPU). */
  numStalls?: number;
  /** The slowest step during the prefill: its ms, chunk size and chunk start. */
  slowest: { ms: number; chunk: number; start: number };
  /** The cost model's prediction for the decodes alone in the prefill's last step / in the steps before (p50): how much the streams' own steps grew with their contexts. */
  decodesGrowth: number;
  /**
   * Near the end: each step's ms over what its decodes alone would cost (beforeP50Ms scaled
   * by the cost model's decodes now / decodes before), median and largest: with a bound,
   * how well the steps keep within maxStepCostRatio.
   */
  nearEndOverDecodes: { p50: number; max: number };
}

export interface InterferenceRunOptions {
  /** No long prompt: the streams alone for this many tokens after the window before (the control). */
  controlTokens?: number;
}

/** The longest any one of the run's waits may last (the slowest variants' prefill takes ~10 s). */
const WAIT_TIMEOUT_MS = 120_000;

export async function runInterference(label: string, model: ModelUnderTest, knobs: EngineKnobs, shape: InterferenceShape, run: InterferenceRunOptions = {}): Promise<InterferenceResult> {
  const { engine, profiler } = await createOurEngine(model, knobs);
  // Each step: when it ended, its ms, the long prompt's chunk in it (a run of several tokens, or unsampled: the streams decode one sampled token each),
  // and the cost model's (the engine's, or the shape's) prediction for the step's decodes alone.
  const cost: StepCostCoefficients = knobs.measuredStepCost ?? stepCostModel(model.config, 2, { kvDtype: knobs.kvDtype, weightDtype: model.weightDtype });
  const steps: TracedStep[] = [];
  profiler.onStep = (input: StepInput, ms: number) => {
    let chunk = 0, start = -1, isFinal = false, numDecodes = 0, decodesCost = cost.fixedMs;
    for (let s = 0; s + 1 < input.seqStart.length; s++) {
      const n = input.seqStart[s + 1] - input.seqStart[s], at = input.positions[input.seqStart[s]];
      if ((n > 1 || input.isSampled[s] === 0) && n > chunk) chunk = n, start = at, isFinal = input.isSampled[s] === 1;
      if (n === 1 && input.isSampled[s] === 1) decodesCost += runCost(cost, at, 1, true), numDecodes++;
    }
    steps.push({ end: performance.now(), ms, chunk, start, isFinal, numDecodes, decodesCost });
  };
  const gcs: Array<{ start: number; ms: number }> = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ start: e.startTime, ms: e.duration });
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const watch = new StreamWatch(label, WAIT_TIMEOUT_MS, () => {
    const st = engine.stats();
    return `${st.running} running, ${st.waiting} waiting, ${st.preemptions} preemptions, ${st.pages.free} of ${st.pages.total} KV pages free`;
  });
  const next = rng(17);
  const tokens = (n: number): number[] => Array.from({ length: n }, () => 3 + Math.floor(next() * (model.config.vocabSize - 3)));
  try {
    await engine.submit(tokens(8), { maxTokens: 4, ignoreEos: true }).done; // warm-up
    const maxTokens = model.config.contextLength - shape.streamPromptLen - 1;
    const records: RequestRecord[] = [];
    const names = Array.from({ length: shape.numStreams }, (_, i) => `stream ${i}`);
    const handles = names.map((name) => {
      const record: RequestRecord = { promptTokens: shape.streamPromptLen, dispatchedAt: performance.now(), tokenTimes: [], doneAt: 0 };
      records.push(record);
      const handle = engine.submit(tokens(shape.streamPromptLen), { maxTokens, ignoreEos: true }, { detached: true });
      watch.track(name, handle, () => record.tokenTimes.push(performance.now()));
      return handle;
    });
    const warmTokens = 4;
    await watch.until(`${warmTokens + shape.windowTokens} tokens of every stream`, () => records.every((r) => r.tokenTimes.length >= warmTokens + shape.windowTokens), names);
    const arrived = performance.now();
    let firstToken = 0;
    let long: { abort(): void } | undefined;
    if (run.controlTokens === undefined) {
      const handle = engine.submit(tokens(shape.longPromptLen), { maxTokens: shape.windowTokens + 8, ignoreEos: true }, { detached: true });
      watch.track('the long prompt', handle, () => {
        if (firstToken === 0) firstToken = performance.now();
      });
      long = handle;
      await watch.until("the long prompt's first token", () => firstToken > 0, ['the long prompt']);
    } else {
      const atArrival = records.map((r) => r.tokenTimes.length), controlTokens = run.controlTokens;
      await watch.until(`${controlTokens} more tokens of every stream (the control)`, () => records.every((r, i) => r.tokenTimes.length >= atArrival[i] + controlTokens), names);
      firstToken = performance.now();
    }
    // A stream that ended meanwhile (it reached maxTokens: the long prompt was preempted, the pool outgrown) cannot give these tokens: the wait says so.
    const counts = records.map((r) => r.tokenTimes.length);
    await watch.until(`${shape.windowTokens} more tokens of every stream after the first token`, () => records.every((r, i) => r.tokenTimes.length >= counts[i] + shape.windowTokens), names);
    const ended = performance.now();
    gcObserver.disconnect();
    for (const h of handles) h.abort();
    long?.abort();
    const warmEnd = Math.max(...records.map((r) => r.tokenTimes[warmTokens - 1]));
    const before = percentiles(interTokenGaps(records, warmEnd, arrived));
    const during = percentiles(interTokenGaps(records, arrived, firstToken));
    // (the p99 is a nearest rank: the tail below holds the gaps at or above it)
    const stepsBefore = steps.filter((st) => st.end > warmEnd && st.end <= arrived);
    const stepsDuring = steps.filter((st) => st.end > arrived && st.end <= firstToken);
    const beforeP50Ms = percentiles(stepsBefore.map((st) => st.ms)).p50;
    const withChunk = stepsDuring.filter((st) => st.chunk > 0);
    const nearEnd = withChunk.filter((st) => st.start >= 0.9 * shape.longPromptLen);
    const over = (list: typeof steps): number => list.filter((st) => st.ms > 2 * beforeP50Ms).length;
    const slowest = stepsDuring.reduce((a, b) => (b.ms > a.ms ? b : a), { end: 0, ms: 0, chunk: 0, start: -1, isFinal: false, numDecodes: 0, decodesCost: 0 });
    const decodesBefore = percentiles(stepsBefore.map((st) => st.decodesCost)).p50;
    const overDecodes = nearEnd.map((st) => st.ms / (beforeP50Ms * (st.decodesCost / decodesBefore)));
    const trace: StepTrace = {
      beforeP50Ms, duringMs: percentiles(stepsDuring.map((st) => st.ms)), numWithChunk: withChunk.length, numOver2x: over(withChunk),
      numNearEnd: nearEnd.length, numNearEndOver2x: over(nearEnd), numStalls: stepsDuring.filter((st) => st.ms > 8 * beforeP50Ms).length, nearEndChunkP50: percentiles(nearEnd.map((st) => st.chunk)).p50,
      slowest: { ms: slowest.ms, chunk: slowest.chunk, start: slowest.start },
      decodesGrowth: stepsDuring.length === 0 ? 0 : stepsDuring[stepsDuring.length - 1].decodesCost / decodesBefore,
      nearEndOverDecodes: { p50: percentiles(overDecodes).p50, max: overDecodes.reduce((a, b) => Math.max(a, b), 0) },
    };
    const between = (list: TracedStep[]): number => percentiles(list.slice(1).map((st, i) => st.end - st.ms - list[i].end)).p50;
    const tail: TailAttribution = {
      ...attributeTail(records.map((r) => r.tokenTimes), steps, gcs, arrived, firstToken, during.p99, shape.numStreams),
      betweenBeforeMsP50: between(stepsBefore), betweenDuringMsP50: between(stepsDuring),
    };
    const spans = stallSpans(steps, 8 * beforeP50Ms, 4);
    const duringWithout = percentiles(gapsOutside(records.map((r) => r.tokenTimes), arrived, firstToken, spans));
    const tokensDuring = percentiles(records.map((r) => r.tokenTimes.filter((t) => t > arrived && t <= firstToken).length)).p50;
    return {
      label,
      maxChunkSize: knobs.chunkedPrefill ? knobs.maxChunkSize : null,
      maxStepCostRatio: knobs.maxStepCostRatio,
      pacedPrefill: knobs.pacedPrefill,
      calibrateStepCost: knobs.calibrateStepCost,
      kvDtype: knobs.kvDtype ?? 'f32',
      measuredStepCost: knobs.measuredStepCost,
      itlBeforeMs: before,
      itlDuringMs: during,
      itlAfterMs: percentiles(interTokenGaps(records, firstToken, ended)),
      longPromptTtftMs: firstToken - arrived,
      spikeRatio: before.p50 === 0 ? 0 : during.p99 / before.p50,
      spikeRatioWithoutStalls: before.p50 === 0 ? 0 : duringWithout.p99 / before.p50,
      steps: trace,
      tail,
      tokensDuring,
    };
  } finally {
    gcObserver.disconnect();
    await engine.close();
  }
}
