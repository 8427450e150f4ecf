/**
 * Long-prompt interference: K steady decode streams, then one long prompt arrives. The
 * streams' inter-token latency before it, while it is prefilled, and after its first token
 * shows how well chunked prefill shields decoding from a big prefill.
 */
import { interTokenGaps, percentiles, type Percentiles, type RequestRecord } from './metrics.js';
import { createOurEngine, type EngineKnobs, type ModelUnderTest } from './ours.js';
import { rng } from './workloads.js';
import type { StepCostCoefficients } from '../src/scheduler/step-cost.js';

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
}

const waitUntil = async (check: () => boolean): Promise<void> => {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 1));
};

export async function runInterference(label: string, model: ModelUnderTest, knobs: EngineKnobs, shape: InterferenceShape): Promise<InterferenceResult> {
  const { engine } = await createOurEngine(model, knobs);
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
    };
  } finally {
    await engine.close();
  }
}
