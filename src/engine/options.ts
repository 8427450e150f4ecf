/** Engine options, their defaults and their validation. */
import { InvalidRequestError } from '../errors.js';
import type { ModelSpec } from '../models/resolve.js';
import type { Executor, ExecutorInfo } from '../executor/step.js';
import type { StepCostCoefficients } from '../scheduler/step-cost.js';
import { validateCalibrateStepCost, validatePacedPrefill, validateMeasuredStepCost } from './step-cost-option.js';
import type { KvDtype } from '../native/binding.js';
import type { SchedulingPolicy } from './core.js';
import { validateTimeout } from './intake.js';
import { validateSyncSteps, type SyncSteps } from './sync-steps.js';

export interface EngineOptions {
  /** 'default' (the embedded trained model, else 'tiny'), a preset ('tiny' | 'small' | 'medium'), a ModelConfig, or a model folder. */
  model?: ModelSpec;
  /** Pages in the KV pool. */
  kvCachePages?: number;
  /** Tokens per KV page. */
  pageSize?: number;
  /** Longest prefill chunk. */
  maxChunkSize?: number;
  /** Tokens per step (decode + prefill). */
  maxBatchTokens?: number;
  /** Requests admitted at once. */
  maxRunning?: number;
  /** Radix prefix cache on or off. */
  prefixCache?: boolean;
  /** Cap on pages the prefix cache keeps. */
  maxCachedPages?: number;
  /**
   * Bounds a step that carries prefill chunks beside decodes: its predicted cost (layers,
   * lm head, keys attended, K/V read) stays within this many times that of its decodes alone,
   * so a long prompt's chunks shrink as its context grows (a number >= 1; needs chunked
   * prefill, and the native executor's model shape or measuredStepCost). Off by default:
   * chunks of maxChunkSize.
   */
  maxStepCostRatio?: number;
  /**
   * The step-cost coefficients (ms) measured on this machine, in place of those derived from
   * the model shape and a nominal machine: e.g. `stepCostFromLatency` of a calibration entry
   * (`npm run bench:calibrate`). Needs maxStepCostRatio.
   */
  measuredStepCost?: StepCostCoefficients;
  /**
   * With maxStepCostRatio: pace a prefill to the decodes' growth, so the step's total cost
   * stays flat while the decode streams' contexts grow (below the ratio's cap: the prompt
   * takes less of each step early, and its TTFT grows). Lowers the streams' ITL p99 during a
   * long prefill against their p50 before it (see the README's Long-prompt interference).
   */
  pacedPrefill?: boolean;
  /**
   * With maxStepCostRatio: correct the step-cost model online from the steps' observed times
   * (src/scheduler/step-cost-calibration.ts), so the bound holds on a machine whose speeds
   * differ from the model's nominal ones, without measuredStepCost (which, when given, is the
   * starting point). Off by default.
   */
  calibrateStepCost?: boolean;
  /** Chunked prefill on (default) or off (prompts prefilled whole). */
  chunkedPrefill?: boolean;
  /** Native worker threads (default: the machine's cores). */
  threads?: number;
  /** Matmul weight storage in the native executor: 'f32', 'bf16', or 'q8_0' / 'q4_k' (quantized at load; weights that come quantized stay so). */
  weightDtype?: 'f32' | 'bf16' | 'q8_0' | 'q4_k';
  /**
   * KV cache element type: 'f32' (default), 'f16' or 'bf16' (half the KV memory and attention
   * traffic), or 'q8_0' (int8 with an f32 scale per 32 values of head_dim: ~0.28-0.29x f32's
   * bytes; needs a head_dim that is a multiple of 16).
   */
  kvDtype?: KvDtype;
  /** Seed of synthetic weights. */
  weightSeed?: number;
  /** Waiting requests beyond this are refused (ERR_QUEUE_FULL). */
  maxWaiting?: number;
  /** Default per-request deadline (ms, > 0). */
  requestTimeoutMs?: number;
  /** Longest prompt accepted, below the context (ERR_CONTEXT_LENGTH beyond). */
  maxPromptTokens?: number;
  /** Cap on a request's maxTokens (ERR_CONTEXT_LENGTH beyond), and its default when none is given. */
  maxOutputTokens?: number;
  /**
   * Short steps on the JS thread (src/engine/sync-steps.ts): 'auto' (default) runs a step of at
   * most 4 tokens synchronously while such steps take at most 4 ms (single-stream decode of a
   * small model: the step runner's round trip is a large share of it), true every step, false
   * none. A synchronous step blocks the event loop while it runs; constrained steps always run
   * off it. true needs an executor with stepSync (the native one).
   */
  syncSteps?: SyncSteps;
  /** Use this executor instead of the native one (e.g. a SimulatedExecutor). */
  executor?: Executor;
  /** Replace the scheduling policy. */
  policy?: SchedulingPolicy;
}

type OptionalKeys = 'maxStepCostRatio' | 'measuredStepCost' | 'pacedPrefill' | 'calibrateStepCost' | 'model' | 'maxCachedPages' | 'requestTimeoutMs' | 'maxPromptTokens' | 'maxOutputTokens' | 'executor' | 'policy' | 'threads';
export type ResolvedEngineOptions = Required<Omit<EngineOptions, OptionalKeys>> & Pick<EngineOptions, OptionalKeys>;

export const ENGINE_DEFAULTS = {
  kvCachePages: 256,
  pageSize: 16,
  maxChunkSize: 256,
  maxBatchTokens: 2048,
  maxRunning: 64,
  prefixCache: true,
  chunkedPrefill: true,
  weightDtype: 'f32' as const,
  kvDtype: 'f32' as const,
  weightSeed: 0,
  maxWaiting: 4096,
};

function positiveInt(options: EngineOptions, key: keyof EngineOptions, fallback: number): number {
  const value = options[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new InvalidRequestError(`engine option ${key} must be an integer >= 1, got ${String(value)}`, key);
  }
  return value;
}

function stepCostRatio(options: EngineOptions): number | undefined {
  const ratio = options.maxStepCostRatio;
  if (ratio === undefined) return undefined;
  if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio < 1) {
    throw new InvalidRequestError(`engine option maxStepCostRatio must be a finite number >= 1, got ${String(ratio)}`, 'maxStepCostRatio');
  }
  if (options.chunkedPrefill === false) throw new InvalidRequestError('maxStepCostRatio sizes prefill chunks: it needs chunkedPrefill', 'maxStepCostRatio');
  return ratio;
}

export function resolveEngineOptions(options: EngineOptions): ResolvedEngineOptions {
  const weightDtype = options.weightDtype ?? ENGINE_DEFAULTS.weightDtype;
  if (!['f32', 'bf16', 'q8_0', 'q4_k'].includes(weightDtype)) throw new InvalidRequestError(`weightDtype must be 'f32', 'bf16', 'q8_0' or 'q4_k'`, 'weightDtype');
  const kvDtype = options.kvDtype ?? ENGINE_DEFAULTS.kvDtype;
  if (kvDtype !== 'f32' && kvDtype !== 'f16' && kvDtype !== 'bf16' && kvDtype !== 'q8_0') {
    throw new InvalidRequestError(`kvDtype must be 'f32', 'f16', 'bf16' or 'q8_0', got ${String(kvDtype)}`, 'kvDtype');
  }
  return {
    ...options,
    kvCachePages: positiveInt(options, 'kvCachePages', ENGINE_DEFAULTS.kvCachePages),
    pageSize: positiveInt(options, 'pageSize', ENGINE_DEFAULTS.pageSize),
    maxChunkSize: positiveInt(options, 'maxChunkSize', ENGINE_DEFAULTS.maxChunkSize),
    maxBatchTokens: positiveInt(options, 'maxBatchTokens', ENGINE_DEFAULTS.maxBatchTokens),
    maxRunning: positiveInt(options, 'maxRunning', ENGINE_DEFAULTS.maxRunning),
    maxWaiting: positiveInt(options, 'maxWaiting', ENGINE_DEFAULTS.maxWaiting),
    weightSeed: options.weightSeed ?? ENGINE_DEFAULTS.weightSeed,
    syncSteps: validateSyncSteps(options.syncSteps, options.executor),
    prefixCache: options.prefixCache ?? ENGINE_DEFAULTS.prefixCache,
    chunkedPrefill: options.chunkedPrefill ?? ENGINE_DEFAULTS.chunkedPrefill,
    maxStepCostRatio: stepCostRatio(options),
    measuredStepCost: validateMeasuredStepCost(options.measuredStepCost, options.maxStepCostRatio),
    pacedPrefill: validatePacedPrefill(options.pacedPrefill, options.maxStepCostRatio),
    calibrateStepCost: validateCalibrateStepCost(options.calibrateStepCost, options.maxStepCostRatio),
    weightDtype,
    kvDtype,
    threads: options.threads === undefined ? undefined : positiveInt(options, 'threads', 1),
    maxPromptTokens: options.maxPromptTokens === undefined ? undefined : positiveInt(options, 'maxPromptTokens', 1),
    maxOutputTokens: options.maxOutputTokens === undefined ? undefined : positiveInt(options, 'maxOutputTokens', 1),
    requestTimeoutMs: options.requestTimeoutMs === undefined ? undefined : (validateTimeout(options.requestTimeoutMs, 'requestTimeoutMs') ?? Infinity),
  };
}
