/**
 * The bench functions: each runs one workload on our engine (and, where asked, on
 * llama.cpp and on our own baselines) and returns medians over `runs` repetitions.
 */
import { presetConfig, type PresetName } from '../src/models/presets.js';
import { syntheticTensors } from '../src/models/synthetic.js';
import type { ModelConfig } from '../src/models/config.js';
import { runInterference, type InterferenceResult } from './interference.js';
import { fitStepCost, type StepCostFit } from './step-cost-fit.js';
import type { KvDtype } from '../src/native/binding.js';
import type { StepCostCoefficients } from '../src/scheduler/step-cost.js';
import { runLlamaCpp, type LlamaCppRuntime } from './llama-cpp.js';
import { medianOf, type ClientMetrics } from './metrics.js';
import { runOurs, type EngineKnobs, type ModelUnderTest, type OurMetrics } from './ours.js';
import { DEMO, INTERFERENCE, type Scale } from './scales.js';
import { profileLongContext, profileStep, type LongContextProfile, type StepProfile } from './step-profile.js';
import { maxContext, optimalHitRate, randomWorkload, sharedPrefixWorkload, type BenchRequest } from './workloads.js';

export interface SuiteOptions {
  runs: number;
  threads: number;
  weightDtype: 'f32' | 'bf16';
  log: (line: string) => void;
}

/** llama.cpp's medians at its best thread count, and the probe's total tokens/s at each count tried. */
export type LlamaCppMetrics = ClientMetrics & { threads: number; probeTotalTokPerSByThreads: Record<number, number> };

export interface Point {
  concurrency: number;
  ours: OurMetrics;
  llamaCpp?: LlamaCppMetrics;
}

export interface ModelResult {
  model: string;
  config: ModelConfig;
  prefill: { promptLen: number; ours: OurMetrics; llamaCpp?: LlamaCppMetrics };
  random: Point[];
  sharedPrefix: Array<Point & { optimumHitRate: number }>;
  baselines: { sequential?: OurMetrics; chunkingOff: OurMetrics; cacheOff: OurMetrics };
  /** The shared-prefix set at the top concurrency with Poisson arrivals instead of all at once. */
  sharedPrefixPoisson: { rate: number; ours: OurMetrics; optimumHitRate: number };
  stepProfile: StepProfile;
}

const PAGE_SIZE = 16;

export function loadModel(name: PresetName, threads: number, weightDtype: 'f32' | 'bf16', override: Partial<ModelConfig> = {}): ModelUnderTest {
  const config = { ...presetConfig(name), ...override };
  return { name, config, tensors: syntheticTensors(config, 0), threads, weightDtype };
}

/** A KV pool for `concurrency` requests of the workload's longest context, plus room for the cache. */
export function knobsFor(requests: readonly BenchRequest[], concurrency: number, overrides: Partial<EngineKnobs> = {}): EngineKnobs {
  const pagesPerRequest = Math.ceil(maxContext(requests) / PAGE_SIZE);
  return {
    kvCachePages: concurrency * pagesPerRequest + 128,
    pageSize: PAGE_SIZE,
    maxChunkSize: 256,
    maxBatchTokens: 2048,
    maxRunning: Math.max(concurrency, 1),
    prefixCache: true,
    chunkedPrefill: true,
    ...overrides,
  };
}

async function repeat<T>(runs: number, run: () => Promise<T>): Promise<T> {
  const results: T[] = [];
  for (let i = 0; i < runs; i++) results.push(await run());
  return medianOf(results);
}

/**
 * llama.cpp at its best thread count. A probe (the workload's first c requests, at least 2,
 * outputs cut to 24 tokens: the same prefill and decode step shapes in a fraction of the
 * time, since 2 threads can collapse to a few tokens/s here) runs at 1 and at `threads`;
 * the full runs use the one that finished the probe sooner.
 */
async function llamaBest(runtime: LlamaCppRuntime, requests: readonly BenchRequest[], concurrency: number, reuse: boolean, o: SuiteOptions): Promise<LlamaCppMetrics> {
  const contextSize = maxContext(requests) + 8;
  const run = (threads: number, reqs: readonly BenchRequest[]) => runLlamaCpp(runtime, reqs, { concurrency, threads, contextSize, reusePrompts: reuse });
  const probe = requests.slice(0, Math.max(2, concurrency)).map((r) => ({ ...r, maxTokens: Math.min(r.maxTokens, 24) }));
  const candidates = [...new Set([1, o.threads])];
  const probes = new Map<number, ClientMetrics>();
  for (const threads of candidates) probes.set(threads, await run(threads, probe));
  const rate = (m: ClientMetrics): number => m.totalTokPerS;
  const best = candidates.reduce((a, b) => (rate(probes.get(b)!) > rate(probes.get(a)!) ? b : a));
  const results: ClientMetrics[] = [];
  for (let i = 0; i < o.runs; i++) results.push(await run(best, requests));
  const probeTotalTokPerSByThreads = Object.fromEntries(candidates.map((t) => [t, probes.get(t)!.totalTokPerS]));
  return { ...medianOf(results), threads: best, probeTotalTokPerSByThreads };
}

function logPoint(o: SuiteOptions, label: string, p: { ours: ClientMetrics; llamaCpp?: LlamaCppMetrics }): void {
  const theirs = p.llamaCpp ? `, llama.cpp ${p.llamaCpp.outputTokPerS.toFixed(0)} out tok/s (${p.llamaCpp.threads}t)` : '';
  o.log(`  ${label}: ours ${p.ours.outputTokPerS.toFixed(0)} out tok/s, ${p.ours.totalTokPerS.toFixed(0)} total tok/s${theirs}`);
}

export async function benchModel(name: PresetName, scale: Scale, runtime: LlamaCppRuntime | undefined, o: SuiteOptions): Promise<ModelResult> {
  const model = loadModel(name, o.threads, o.weightDtype);
  const vocabSize = model.config.vocabSize;
  o.log(`${name}: prefill`);
  const prefillReqs: BenchRequest[] = Array.from({ length: scale.prefill.numRequests }, (_, i) => ({
    prompt: randomWorkload({ numRequests: 1, inputLen: [scale.prefill.promptLen, scale.prefill.promptLen], outputLen: [1, 1], rate: Infinity, vocabSize, seed: 500 + i })[0].prompt,
    maxTokens: 1,
    arrivalMs: 0,
  }));
  const prefill = {
    promptLen: scale.prefill.promptLen,
    ours: await repeat(o.runs, () => runOurs(model, knobsFor(prefillReqs, 1), prefillReqs, 1)),
    llamaCpp: runtime ? await llamaBest(runtime, prefillReqs, 1, false, o) : undefined,
  };
  o.log(`  prefill: ours ${prefill.ours.totalTokPerS.toFixed(0)} tok/s, llama.cpp ${prefill.llamaCpp?.totalTokPerS.toFixed(0) ?? '-'} tok/s`);

  const random: Point[] = [];
  const randomSets = new Map<number, BenchRequest[]>();
  for (const c of scale.concurrencies) {
    const reqs = randomWorkload({ numRequests: scale.random.requests(c), inputLen: scale.random.inputLen, outputLen: scale.random.outputLen, rate: Infinity, vocabSize, seed: 1000 + c });
    randomSets.set(c, reqs);
    const point: Point = { concurrency: c, ours: await repeat(o.runs, () => runOurs(model, knobsFor(reqs, c), reqs, c)) };
    if (runtime) point.llamaCpp = await llamaBest(runtime, reqs, c, false, o);
    logPoint(o, `random c=${c}`, point);
    random.push(point);
  }

  const sharedPrefix: ModelResult['sharedPrefix'] = [];
  let sharedTop: BenchRequest[] = [];
  for (const c of scale.concurrencies) {
    const reqs = sharedPrefixWorkload({ ...scale.sharedPrefix, rate: Infinity, vocabSize, seed: 2000 });
    sharedTop = reqs;
    const point = {
      concurrency: c,
      optimumHitRate: optimalHitRate(reqs, scale.sharedPrefix.prefixLen, PAGE_SIZE),
      ours: await repeat(o.runs, () => runOurs(model, knobsFor(reqs, c), reqs, c)),
      llamaCpp: runtime ? await llamaBest(runtime, reqs, c, true, o) : undefined,
    };
    logPoint(o, `shared-prefix c=${c} (hit ${(point.ours.engine.cacheHitRate * 100).toFixed(1)} % of optimum ${(point.optimumHitRate * 100).toFixed(1)} %)`, point);
    sharedPrefix.push(point);
  }

  const top = Math.max(...scale.concurrencies);
  const randomTop = randomSets.get(top)!;
  o.log(`${name}: baselines at concurrency ${top}`);
  const baselines: ModelResult['baselines'] = {
    cacheOff: await repeat(o.runs, () => runOurs(model, knobsFor(sharedTop, top, { prefixCache: false }), sharedTop, top)),
    chunkingOff: await repeat(o.runs, () => runOurs(model, knobsFor(randomTop, top, { chunkedPrefill: false }), randomTop, top)),
  };
  if (scale.sequentialBaseline) baselines.sequential = await repeat(o.runs, () => runOurs(model, knobsFor(randomTop, 1), randomTop, 1));
  o.log(`  cache off ${baselines.cacheOff.outputTokPerS.toFixed(0)}, chunking off ${baselines.chunkingOff.outputTokPerS.toFixed(0)}, sequential ${baselines.sequential?.outputTokPerS.toFixed(0) ?? '-'} out tok/s`);

  const rate = scale.sharedPrefix.poissonRate;
  const poissonReqs = sharedPrefixWorkload({ ...scale.sharedPrefix, rate, vocabSize, seed: 2000 });
  const sharedPrefixPoisson = {
    rate,
    optimumHitRate: optimalHitRate(poissonReqs, scale.sharedPrefix.prefixLen, PAGE_SIZE),
    ours: await repeat(o.runs, () => runOurs(model, knobsFor(poissonReqs, top), poissonReqs, top)),
  };
  o.log(`  shared-prefix, Poisson ${rate} req/s: hit ${(sharedPrefixPoisson.ours.engine.cacheHitRate * 100).toFixed(1)} % of optimum ${(sharedPrefixPoisson.optimumHitRate * 100).toFixed(1)} %`);

  const stepProfile = await profileStep(model, top, 128, 9);
  return { model: name, config: model.config, prefill, random, sharedPrefix, baselines, sharedPrefixPoisson, stepProfile };
}

/** Which interference variants to run: labels containing any of `parts`, or equal to one of `exact` (all when both are absent). */
export interface VariantFilter {
  parts?: readonly string[];
  exact?: readonly string[];
}

/** The labels the filter picks, in order; a part or an exact label that picks none is refused (RangeError naming the labels). */
export function selectVariants(labels: readonly string[], filter: VariantFilter = {}): string[] {
  const { parts, exact } = filter;
  if (!parts && !exact) return [...labels];
  const known = labels.map((l) => `'${l}'`).join(', ');
  for (const part of parts ?? []) if (!labels.some((l) => l.includes(part))) throw new RangeError(`--interference-variants: '${part}' is in no variant's label (${known})`);
  for (const label of exact ?? []) if (!labels.includes(label)) throw new RangeError(`--interference-variant: no variant is labelled '${label}' (${known})`);
  return labels.filter((l) => (parts ?? []).some((part) => l.includes(part)) || (exact ?? []).includes(l));
}

/**
 * Long-prompt interference at the engine's default chunk, smaller chunks, and chunking off; and what a long context costs one step.
 * `warmUps`: runs of each variant before the measured ones, discarded (their ratios logged and kept as warmUpRatios): in a fresh
 * process V8 compiles the engine's per-step functions on its worker threads for the first thousand steps or so, and each
 * compile job takes one of the two cores from a step (decode-jitter.js).
 */
export async function benchInterference(quick: boolean, o: SuiteOptions, only?: VariantFilter, warmUps = 0): Promise<{ variants: InterferenceResult[]; longContext: LongContextProfile }> {
  const shape = INTERFERENCE[quick ? 'quick' : 'full'];
  const pages = Math.ceil(shape.longPromptLen / PAGE_SIZE) + shape.numStreams * Math.ceil(shape.contextLength / PAGE_SIZE / 4) + 64;
  const base = { kvCachePages: pages, pageSize: PAGE_SIZE, maxBatchTokens: 8192, maxRunning: shape.numStreams + 2, prefixCache: true, chunkedPrefill: true, maxChunkSize: 256 };
  const variants: Array<[string, EngineKnobs | (() => Promise<EngineKnobs>)]> = [
    ['chunk 256 (default)', base],
    ['chunk 64', { ...base, maxChunkSize: 64 }],
    ['chunk 64, bf16 KV', { ...base, maxChunkSize: 64, kvDtype: 'bf16' }],
    ['chunk 16', { ...base, maxChunkSize: 16 }],
    ['chunking off', { ...base, chunkedPrefill: false }],
    ['chunk 256, maxStepCostRatio 2', { ...base, maxStepCostRatio: 2 }],
    ['chunk 256, maxStepCostRatio 1.5', { ...base, maxStepCostRatio: 1.5 }],
    ['chunk 256, maxStepCostRatio 3', { ...base, maxStepCostRatio: 3 }],
    ['chunk 256, maxStepCostRatio 2, bf16 KV', { ...base, maxStepCostRatio: 2, kvDtype: 'bf16' }],
    ['chunk 256, maxStepCostRatio 1.5, bf16 KV', { ...base, maxStepCostRatio: 1.5, kvDtype: 'bf16' }],
    ['chunk 64, q8_0 KV', { ...base, maxChunkSize: 64, kvDtype: 'q8_0' }],
    ['chunk 256, maxStepCostRatio 2, q8_0 KV', { ...base, maxStepCostRatio: 2, kvDtype: 'q8_0' }],
    ['chunk 256, maxStepCostRatio 1.5, q8_0 KV', { ...base, maxStepCostRatio: 1.5, kvDtype: 'q8_0' }],
    ['chunk 256, maxStepCostRatio 2, paced, bf16 KV', { ...base, maxStepCostRatio: 2, pacedPrefill: true, kvDtype: 'bf16' }],
    ['chunk 256, maxStepCostRatio 2, paced, q8_0 KV', { ...base, maxStepCostRatio: 2, pacedPrefill: true, kvDtype: 'q8_0' }],
    ['chunk 256, maxStepCostRatio 3, paced, q8_0 KV', { ...base, maxStepCostRatio: 3, pacedPrefill: true, kvDtype: 'q8_0' }],
    ['chunk 256, maxStepCostRatio 2, calibrated, q8_0 KV', { ...base, maxStepCostRatio: 2, calibrateStepCost: true, kvDtype: 'q8_0' }],
    ['chunk 256, maxStepCostRatio 1.5, calibrated, q8_0 KV', { ...base, maxStepCostRatio: 1.5, calibrateStepCost: true, kvDtype: 'q8_0' }],
    ['chunk 256, maxStepCostRatio 2, paced, calibrated, q8_0 KV', { ...base, maxStepCostRatio: 2, pacedPrefill: true, calibrateStepCost: true, kvDtype: 'q8_0' }],
    ['chunk 256, maxStepCostRatio 2, paced, calibrated, bf16 KV', { ...base, maxStepCostRatio: 2, pacedPrefill: true, calibrateStepCost: true, kvDtype: 'bf16' }],
    ['chunk 256, maxStepCostRatio 2, measured cost', async () => ({ ...base, maxStepCostRatio: 2, measuredStepCost: await measured('f32') })],
    ['chunk 256, maxStepCostRatio 2, measured cost, bf16 KV', async () => ({ ...base, maxStepCostRatio: 2, kvDtype: 'bf16', measuredStepCost: await measured('bf16') })],
    ['chunk 256, maxStepCostRatio 1.5, measured cost, q8_0 KV', async () => ({ ...base, maxStepCostRatio: 1.5, kvDtype: 'q8_0', measuredStepCost: await measured('q8_0') })],
    ['chunk 256, maxStepCostRatio 2, paced, measured cost, q8_0 KV', async () => ({ ...base, maxStepCostRatio: 2, pacedPrefill: true, kvDtype: 'q8_0', measuredStepCost: await measured('q8_0') })],
  ];
  const fits: Partial<Record<KvDtype, StepCostFit>> = {};
  const measured = async (kvDtype: KvDtype): Promise<StepCostCoefficients> => {
    fits[kvDtype] ??= await fitStepCost(model, kvDtype, shape.numStreams, shape.longPromptLen);
    const fit = fits[kvDtype]!;
    o.log(`  step cost measured (${kvDtype} KV, ${fit.numSamples} steps, median error ${(fit.medianError * 100).toFixed(0)} %): ${JSON.stringify(fit.coefficients)}`);
    return fit.coefficients;
  };
  const results: InterferenceResult[] = [];
  const picked = new Set(selectVariants(variants.map(([label]) => label), only)); // before the model loads: a bad filter fails at once
  const model = loadModel('small', o.threads, o.weightDtype, { contextLength: shape.contextLength });
  for (const [label, knobsOrFit] of variants) {
    if (!picked.has(label)) continue;
    const knobs = typeof knobsOrFit === 'function' ? await knobsOrFit() : knobsOrFit;
    const streamShape = { ...shape, windowTokens: Math.min(shape.windowTokens, Math.floor((shape.contextLength - shape.streamPromptLen - shape.longPromptLen) / 4)) };
    const warmUpRatios: number[] = [];
    for (let w = 0; w < warmUps; w++) warmUpRatios.push((await runInterference(`${label} (warm-up)`, model, knobs, streamShape)).spikeRatio);
    if (warmUps > 0) o.log(`  interference ${label}: warm-up run${warmUps > 1 ? 's' : ''} (discarded) x${warmUpRatios.map((r) => r.toFixed(2)).join(', x')}`);
    const result = { ...(await repeat(o.runs, () => runInterference(label, model, knobs, streamShape))), warmUpRatios };
    // The control: the streams alone over as many tokens as the prefill lasted (their contexts grow as much), no long prompt.
    const controlTokens = Math.min(Math.max(1, Math.round(result.tokensDuring)), shape.contextLength - shape.streamPromptLen - 2 * streamShape.windowTokens - 16);
    const control = await repeat(o.runs, () => runInterference(`${label} (control)`, model, knobs, streamShape, { controlTokens }));
    result.control = { itlBeforeMs: control.itlBeforeMs, itlWindowMs: control.itlDuringMs, ratio: control.spikeRatio };
    o.log(`  interference ${label}: ITL p50 / p99 before ${result.itlBeforeMs.p50.toFixed(1)} / ${result.itlBeforeMs.p99.toFixed(1)} ms, p99 during ${result.itlDuringMs.p99.toFixed(1)} ms (x${result.spikeRatio.toFixed(1)}; x${(result.spikeRatioWithoutStalls ?? 0).toFixed(2)} without the ${result.steps.numStalls} stalls and their 4 followers), long TTFT ${result.longPromptTtftMs.toFixed(0)} ms`);
    const st = result.steps;
    const tl = result.tail;
    o.log(`    the gaps >= p99 (${tl.numGaps}): ${tl.numOneStep} hold one step, ${tl.numSeveralSteps} several; ${tl.numWithoutDecodes} a step without the streams' decodes, ${tl.numWithFinalChunk} the prompt's last chunk, ${tl.numWithGc} a GC pause (largest ${tl.gcMsMax.toFixed(2)} ms); gap p50 ${tl.gapMsP50.toFixed(2)} ms = its steps ${tl.stepMsP50.toFixed(2)} + the rest ${tl.restMsP50.toFixed(2)} (largest ${tl.restMsMax.toFixed(2)}); between steps p50 before / during ${tl.betweenBeforeMsP50.toFixed(3)} / ${tl.betweenDuringMsP50.toFixed(3)} ms`);
    o.log(`    the streams' decodes alone grew x${result.steps.decodesGrowth.toFixed(2)} (cost model) over ${result.tokensDuring} tokens; control (no long prompt, ${controlTokens} tokens): ITL p50 before ${result.control.itlBeforeMs.p50.toFixed(1)} ms, p99 in the window ${result.control.itlWindowMs.p99.toFixed(1)} ms (x${result.control.ratio.toFixed(2)})`);
    o.log(`    steps: p50 before ${st.beforeP50Ms.toFixed(2)} ms; during p50 / p99 ${st.duringMs.p50.toFixed(2)} / ${st.duringMs.p99.toFixed(2)} ms; ${st.numOver2x} of ${st.numWithChunk} with a chunk above 2x (last 10 % of the prompt: ${st.numNearEndOver2x} of ${st.numNearEnd}, chunk p50 ${st.nearEndChunkP50}); ${st.numStalls} stalls (> 8x); slowest ${st.slowest.ms.toFixed(2)} ms (chunk ${st.slowest.chunk} @${st.slowest.start}); near the end, step / its decodes alone p50 ${st.nearEndOverDecodes.p50.toFixed(2)}, max ${st.nearEndOverDecodes.max.toFixed(2)}`);
    results.push(result);
  }
  const longContext = await profileLongContext(model, shape.longPromptLen, [16, 64, 256].filter((c) => c <= shape.longPromptLen), 5);
  return { variants: results, longContext };
}

export interface DemoResult {
  numRequests: number;
  ours: OurMetrics;
  sequential: OurMetrics;
  stepProfile: StepProfile;
}

/** The seed's demo: the tiny model, many short requests all at once. */
export async function benchDemo(quick: boolean, o: SuiteOptions): Promise<DemoResult> {
  const shape = DEMO[quick ? 'quick' : 'full'];
  const model = loadModel('tiny', o.threads, o.weightDtype);
  const reqs = randomWorkload({ numRequests: shape.numRequests, inputLen: shape.inputLen, outputLen: [shape.outputLen, shape.outputLen], rate: Infinity, vocabSize: 256, seed: 3000 });
  const knobs = knobsFor(reqs, shape.numRequests, { maxBatchTokens: 4096 });
  const ours = await repeat(o.runs, () => runOurs(model, knobs, reqs, shape.numRequests));
  const sequential = await repeat(1, () => runOurs(model, knobsFor(reqs, 1), reqs, 1));
  o.log(`tiny demo (${shape.numRequests} concurrent): ${ours.outputTokPerS.toFixed(0)} out tok/s, sequential ${sequential.outputTokPerS.toFixed(0)}`);
  const stepProfile = await profileStep(model, shape.numRequests, 64, 15);
  return { numRequests: shape.numRequests, ours, sequential, stepProfile };
}
