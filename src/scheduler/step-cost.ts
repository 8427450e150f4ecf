/**
 * A step's predicted cost, in milliseconds, so the policy can size a prefill chunk that
 * shares a step with decodes:
 *
 *   cost = fixed + sum over runs (tokens x perToken + sampled x perSampled
 *                                 + keys attended x perKey + context read x perKvRead)
 *
 * fixed is the weights streamed once per step; a run's attention costs its arithmetic (a
 * chunk of n tokens from position s attends n s + n (n + 1) / 2 keys) plus reading the K/V of
 * its whole context (s + n positions, all layers) once from memory: the tiled kernel walks
 * the keys once per 16 queries, and the further walks of a longer chunk hit the cache. So a
 * tiny chunk at a long context costs about as much memory traffic as a 16-token one, and
 * the decodes of streams with long contexts cost more than those of short ones. With a bound
 * the chunk is the longest whose step stays within maxRatio x the cost of the step's decodes
 * alone (at least one token when no other chunk is in the step, so a prompt always
 * progresses); a step without decodes is not bounded. Pure: plain numbers in and out.
 */

import type { LinearLatency } from '../testing/latency.js';

/** What one step's parts cost, in ms (derived from the model shape, or measured: `stepCostFromLatency`). */
export interface StepCostCoefficients {
  /** Any step, besides its tokens: the weights streamed once, thread wake-ups. */
  readonly fixedMs: number;
  /** Each token's pass through the layers (their GEMMs). */
  readonly perTokenMs: number;
  /** Each sampled token: the LM head and the sampler. */
  readonly perSampledMs: number;
  /** Each (query, key) pair attended, all layers and heads: the attention's arithmetic. */
  readonly perKeyMs: number;
  /** Each position of context a run reads (its K and V, all layers), once per run: the attention's memory traffic. */
  readonly perKvReadMs: number;
}

export interface StepCostModel extends StepCostCoefficients {
  /** A step carrying prefill beside decodes costs at most this many times its decodes alone (>= 1). */
  readonly maxRatio: number;
  /**
   * Paced to the decodes' growth: the prefill's allowance is also at most sqrt(2 g W) (g: how
   * much the decodes' cost grows a step, as each gains a position; W: the prefill work left),
   * so the step's total stays flat while the decodes grow (`pacedAllowance`).
   */
  readonly isPaced?: boolean;
  /**
   * Corrected online from the steps' observed times (the engine's calibrateStepCost): the
   * engine plans each step with StepCostCalibration's model, these coefficients its prior.
   */
  readonly isCalibrated?: boolean;
  /**
   * What a prefill chunk costs against what these coefficients predict for it (1 by default):
   * the calibration's measured ratio of a chunk's cost to the decodes' (step-cost-calibration.ts).
   */
  readonly prefillCostScale?: number;
  /**
   * What a prefill chunk's K/V read costs against a decode's, per position (1 by default). A
   * what-if for the simulator (bench/interference-floor.ts): a chunk whose layers were split
   * over L steps would read 1/L of its context's K/V a step. No executor does that today.
   */
  readonly prefillKvReadScale?: number;
}

/** The model's shape, as the cost needs it (a ModelConfig has these fields). */
export interface CostShape {
  readonly hiddenSize: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly vocabSize: number;
}

/** Element types that set the bytes streamed: weights ('q8_0' ~1.06, 'q4_k' ~0.56 bytes) and KV. */
export interface CostDtypes {
  readonly weightDtype?: 'f32' | 'bf16' | 'q8_0' | 'q4_k';
  readonly kvDtype?: 'f32' | 'bf16' | 'f16' | 'q8_0';
}

const WEIGHT_BYTES = { f32: 4, bf16: 2, q8_0: 34 / 32, q4_k: 144 / 256 } as const;
/** Bytes a K or V element takes: q8_0 adds an f32 scale per block of 32 values of head_dim (the last block 16). */
export function kvBytesPerElement(kvDtype: NonNullable<CostDtypes['kvDtype']>, headDim: number): number {
  if (kvDtype === 'q8_0') return 1 + (4 * Math.ceil(headDim / 32)) / headDim;
  return kvDtype === 'f32' ? 4 : 2;
}

/**
 * A 2-core machine as the bench measured it (AVX-512 Zen 5, 2 threads, the small preset):
 * GEMMs ~300 GFLOP/s, weights streamed at ~40 GB/s (part of them stay in L3), and for the
 * register-blocked tiled attention (refitted to the quiet-window bench:long figures of
 * 2026-12-02 16:46 UTC: 8 decodes at 100 and 4,000 tokens of context, 16-token chunks at 0
 * and 3,984): its arithmetic ~165 GFLOP/s, the K/V read at ~47 GB/s for f32 and ~34 GB/s
 * for 16-bit elements (their widening costs too). Only their ratios matter to a bound;
 * `stepCostFromLatency` replaces them with a fit to this machine (bench/step-cost-fit.ts).
 */
const GEMM_FLOPS_PER_MS = 3e8;
const ATTENTION_FLOPS_PER_MS = 1.65e8;
// q8_0 (session 18, bench:long and the step-cost fit beside bf16 at load 5-8): a K/V element takes ~0.76-0.88
// of bf16's time (half the bytes, but the int8 widening and the scale's multiply cost too).
const KV_BYTES_PER_MS = { f32: 4.7e7, bf16: 3.4e7, f16: 3.4e7, q8_0: 2.5e7 } as const;
const WEIGHT_BYTES_PER_MS = 4e7;

/** The cost model of a model shape and element types, with the given bound. */
export function stepCostModel(shape: CostShape, maxRatio: number, dtypes: CostDtypes = {}): StepCostModel {
  const qDim = shape.numHeads * shape.headDim, kvDim = shape.numKvHeads * shape.headDim;
  const layerWeights = shape.hiddenSize * (2 * qDim + 2 * kvDim + 3 * shape.intermediateSize);
  const lmHeadWeights = shape.hiddenSize * shape.vocabSize;
  const weightBytes = WEIGHT_BYTES[dtypes.weightDtype ?? 'f32'];
  const kvDtype = dtypes.kvDtype ?? 'f32', kvBytes = kvBytesPerElement(kvDtype, shape.headDim);
  return {
    maxRatio,
    fixedMs: ((layerWeights * shape.numLayers + lmHeadWeights) * weightBytes) / WEIGHT_BYTES_PER_MS,
    perTokenMs: (2 * layerWeights * shape.numLayers) / GEMM_FLOPS_PER_MS,
    perSampledMs: (2 * lmHeadWeights) / GEMM_FLOPS_PER_MS,
    perKeyMs: (4 * qDim * shape.numLayers) / ATTENTION_FLOPS_PER_MS, // scores and weighted values
    perKvReadMs: (2 * kvDim * shape.numLayers * kvBytes) / KV_BYTES_PER_MS[kvDtype],
  };
}

/** A measured linear step latency (`npm run bench:calibrate`) without its wake-up term, which no step bound sees. */
export type MeasuredLatency = Omit<LinearLatency, 'wakeMs'>;

/**
 * The cost coefficients of a measured latency fit (the engine's measuredStepCost): its
 * per-sequence term joins the sampled one (a decode is one sequence sampling one token; a
 * chunk's own sequence term is small beside its attention).
 */
export function stepCostFromLatency(fit: MeasuredLatency): StepCostCoefficients {
  return {
    fixedMs: fit.fixedMs,
    perTokenMs: fit.perTokenMs,
    perSampledMs: fit.perSampledMs + fit.perSeqMs,
    perKeyMs: fit.perContextMs,
    perKvReadMs: fit.perKvReadMs,
  };
}

/** Keys a run of n tokens from position `start` attends (causal, no window). */
export function keysAttended(start: number, n: number): number {
  return n * start + (n * (n + 1)) / 2;
}

/** The predicted cost of one run (no fixed part), in ms. */
export function runCost(model: StepCostCoefficients, start: number, n: number, isSampled: boolean): number {
  return n * model.perTokenMs + (isSampled ? model.perSampledMs : 0) + keysAttended(start, n) * model.perKeyMs + (start + n) * model.perKvReadMs;
}

/** The prefill-only knobs of a StepCostModel that prefillCost reads. */
export type PrefillScales = { readonly prefillKvReadScale?: number; readonly prefillCostScale?: number };

/** The predicted cost of a prefill chunk (no fixed part), in ms: runCost with the model's prefill K/V read scale, times its prefill cost scale. */
export function prefillCost(model: StepCostCoefficients & PrefillScales, start: number, n: number, isSampled: boolean): number {
  const scale = model.prefillKvReadScale ?? 1;
  return (model.prefillCostScale ?? 1) * (runCost(model, start, n, isSampled) - (1 - scale) * (start + n) * model.perKvReadMs);
}

/**
 * The longest chunk (<= maxTokens) from `start` whose cost fits `allowance`; `isSampledAt(n)`
 * says whether a chunk of n tokens would be sampled (it ends the prompt). Cost grows with n
 * (sampling adds, never subtracts), so a binary search finds it.
 */
export function chunkWithin(model: StepCostCoefficients & PrefillScales, allowance: number, start: number, maxTokens: number, isSampledAt: (n: number) => boolean): number {
  let lo = 0, hi = maxTokens;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (prefillCost(model, start, mid, isSampledAt(mid)) <= allowance) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * The prefill allowance that keeps a step's total cost flat while the decodes grow. Each
 * step the decodes cost g more (each gains a position) and a prompt's chunk re-reads its
 * whole context's K/V (R now, R + dR by its end), so the step's base rises by g + dR / m over
 * the m steps left, and the prompt's other work W (its tokens' layers and keys) shrinks the
 * rest linearly to zero: spending R + a - (g + dR / m) k in the k-th step from now finishes
 * W in m = 2 W / a steps when a^2 - dR a - 2 g W = 0. A constant allowance finishing the
 * same work peaks higher (the growth over its steps lands on top of its whole allowance).
 * Stateless: recomputed each step it follows the same line (to g^2). Never less than the
 * re-read plus MIN_PACED_TOKENS tokens' work at the prompt's end: on the line's tail a single
 * token a step would stretch the TTFT (12 % of it, on the simulator) to shave 0.5 % off the peak.
 */
const MIN_PACED_TOKENS = 2;

export function pacedAllowance(model: StepCostModel, numDecodes: number, prefills: ReadonlyArray<{ readonly start: number; readonly numTokens: number }>): number {
  const kvRead = model.perKvReadMs * (model.prefillKvReadScale ?? 1);
  let rereadNow = 0, rereadGrowth = 0, workLeft = 0, minWork = 0;
  for (const { start, numTokens } of prefills) {
    const n = numTokens - start;
    rereadNow += start * kvRead;
    rereadGrowth += n * kvRead;
    workLeft += n * model.perTokenMs + keysAttended(start, n) * model.perKeyMs;
    minWork += Math.min(n, MIN_PACED_TOKENS) * (model.perTokenMs + numTokens * model.perKeyMs + kvRead);
  }
  const k = model.prefillCostScale ?? 1; // the prefill's terms as they cost against the decodes'
  rereadNow *= k, rereadGrowth *= k, workLeft *= k, minWork *= k;
  const g = numDecodes * (model.perKeyMs + model.perKvReadMs);
  const a = (rereadGrowth + Math.sqrt(rereadGrowth * rereadGrowth + 8 * g * workLeft)) / 2;
  return rereadNow + Math.max(a, minWork);
}
