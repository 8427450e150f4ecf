/**
 * Long-prompt interference: K steady decode streams, then one long prompt arrives. The
 * streams' inter-token latency before it, while it is prefilled, and after its first token
 * shows how well chunked prefill shields decoding from a big prefill.
 */
import type { StepInput } from '../src/executor/step.js';
import { interTokenGaps, percentiles, type Percentiles, type RequestRecord } from './metrics.js';
import { createOurEngine, type EngineKnobs, type ModelUnderTest } from './ours.js';
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
  kvDtype: string;
  /** The step-cost coefficients measured on this machine, when the variant used them (else derived from the model shape). */
  measuredStepCost?: StepCostCoefficients;
  itlBeforeMs: Percentiles;
  itlDuringMs: Percentiles;
  itlAfterMs: Percentiles;
  longPromptTtftMs: number;
  /** ITL p99 during the long prefill / ITL p50 before it (target <= 2). */
  spikeRatio: number;
  /** The executor's steps (call to resolution) before the long prompt and while it is prefilled. */
  steps: StepTrace;
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
  /** The slowest step during the prefill: its ms, chunk size and chunk start. */
  slowest: { ms: number; chunk: number; start: number };
  /**
   * Near the end: each step's ms over what its decodes alone would cost (beforeP50Ms scaled
   * by the cost model's decodes now / decodes before), median and largest: with a bound,
   * how well the steps keep within maxStepCostRatio.
   */
  nearEndOverDecodes: { p50: number; max: number };
}

const waitUntil = async (check: () => boolean): Promise<void> => {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 1));
};

export async function runInterference(label: string, model: ModelUnderTest, knobs: EngineKnobs, shape: InterferenceShape): Promise<InterferenceResult> {
  const { engine, profiler } = await createOurEngine(model, knobs);
  // Each step: when it ended, its ms, and the long prompt's chunk in it (a run of several tokens, or unsampled: the streams decode one sampled token each).
  // decodesCost: the cost model's (the engine's, or the shape's) prediction for the step's decodes alone.
  const cost: StepCostCoefficients = knobs.measuredStepCost ?? stepCostModel(model.config, 2, { kvDtype: knobs.kvDtype, weightDtype: model.weightDtype });
  const steps: Array<{ end: number; ms: number; chunk: number; start: number; decodesCost: number }> = [];
  profiler.onStep = (input: StepInput, ms: number) => {
    let chunk = 0, start = -1, decodesCost = cost.fixedMs;
    for (let s = 0; s + 1 < input.seqStart.length; s++) {
      const n = input.seqStart[s + 1] - input.seqStart[s], at = input.positions[input.seqStart[s]];
      if ((n > 1 || input.isSampled[s] === 0) && n > chunk) chunk = n, start = at;
      if (n === 1 && input.isSampled[s] === 1) decodesCost += runCost(cost, at, 1, true);
    }
    steps.push({ end: performance.now(), ms, chunk, start, decodesCost });
  };
  const next = rng(17);
  const tokens = (n: number): number[] => Array.from({ length: n }, () => 3 + Math.floor(next() * (model.config.vocabSize - 3)));
  try {
    await engine.submit(tokens(8), { maxTokens: 4, ignoreEos: true }).done; // warm-up
    const maxTokens = model.config.contextLength - shape.streamPromptLen - 1;
    const records: RequestRecord[] = [];
    const handles = Array.from({ length: shape.numStreams }, () => {
      const record: RequestRecord = { promptTokens: shape.streamPromptLen, dispatchedAt: performance.now(), tokenTimes: [], doneAt: 0 };
      records.push(record);
      const handle = engine.submit(tokens(shape.streamPromptLen), { maxTokens, ignoreEos: true }, { detached: true });
      handle.tokens$.subscribe(() => record.tokenTimes.push(performance.now()));
      return handle;
    });
    const warmTokens = 4;
    await waitUntil(() => records.every((r) => r.tokenTimes.length >= warmTokens + shape.windowTokens));
    const arrived = performance.now();
    let firstToken = 0;
    const long = engine.submit(tokens(shape.longPromptLen), { maxTokens: shape.windowTokens + 8, ignoreEos: true }, { detached: true });
    long.tokens$.subscribe(() => {
      if (firstToken === 0) firstToken = performance.now();
    });
    await waitUntil(() => firstToken > 0);
    const counts = records.map((r) => r.tokenTimes.length);
    await waitUntil(() => records.every((r, i) => r.tokenTimes.length >= counts[i] + shape.windowTokens));
    const ended = performance.now();
    for (const h of handles) h.abort();
    long.abort();
    const warmEnd = Math.max(...records.map((r) => r.tokenTimes[warmTokens - 1]));
    const before = percentiles(interTokenGaps(records, warmEnd, arrived));
    const during = percentiles(interTokenGaps(records, arrived, firstToken));
    const stepsBefore = steps.filter((st) => st.end > warmEnd && st.end <= arrived);
    const stepsDuring = steps.filter((st) => st.end > arrived && st.end <= firstToken);
    const beforeP50Ms = percentiles(stepsBefore.map((st) => st.ms)).p50;
    const withChunk = stepsDuring.filter((st) => st.chunk > 0);
    const nearEnd = withChunk.filter((st) => st.start >= 0.9 * shape.longPromptLen);
    const over = (list: typeof steps): number => list.filter((st) => st.ms > 2 * beforeP50Ms).length;
    const slowest = stepsDuring.reduce((a, b) => (b.ms > a.ms ? b : a), { end: 0, ms: 0, chunk: 0, start: -1, decodesCost: 0 });
    const decodesBefore = percentiles(stepsBefore.map((st) => st.decodesCost)).p50;
    const overDecodes = nearEnd.map((st) => st.ms / (beforeP50Ms * (st.decodesCost / decodesBefore)));
    const trace: StepTrace = {
      beforeP50Ms, duringMs: percentiles(stepsDuring.map((st) => st.ms)), numWithChunk: withChunk.length, numOver2x: over(withChunk),
      numNearEnd: nearEnd.length, numNearEndOver2x: over(nearEnd), nearEndChunkP50: percentiles(nearEnd.map((st) => st.chunk)).p50,
      slowest: { ms: slowest.ms, chunk: slowest.chunk, start: slowest.start },
      nearEndOverDecodes: { p50: percentiles(overDecodes).p50, max: overDecodes.reduce((a, b) => Math.max(a, b), 0) },
    };
    return {
      label,
      maxChunkSize: knobs.chunkedPrefill ? knobs.maxChunkSize : null,
      maxStepCostRatio: knobs.maxStepCostRatio,
      kvDtype: knobs.kvDtype ?? 'f32',
      measuredStepCost: knobs.measuredStepCost,
      itlBeforeMs: before,
      itlDuringMs: during,
      itlAfterMs: percentiles(interTokenGaps(records, firstToken, ended)),
      longPromptTtftMs: firstToken - arrived,
      spikeRatio: before.p50 === 0 ? 0 : during.p99 / before.p50,
      steps: trace,
    };
  } finally {
    await engine.close();
  }
}
