/**
 * Chaos workloads: random arrivals (by engine step and by wall time), aborts at random
 * moments (abort() or unsubscribing), per-request and engine-wide deadlines, a queue
 * limit, an engine close with requests in flight (drain or abort), and an executor
 * wrapper that makes steps fail or run slow at random. The reliability soak
 * (test/reliability/) drives these through the full engine and checks every outcome.
 */
import fc from 'fast-check';
import { ExecutorError } from '../errors.js';
import type { Executor, ExecutorInfo, StepInput, StepOutput } from '../executor/step.js';
import { pagesFor } from '../scheduler/view.js';
import { engineShapeArb, type EngineShape } from './arbitraries.js';

/** When something happens: once the engine has run `step` steps, or `ms` after the workload starts. */
export type ChaosMoment = { step: number } | { ms: number };

export interface ChaosSampling {
  temperature: number;
  seed: number;
  ignoreEos: boolean;
  stopTokenIds: number[];
  repetitionPenalty: number;
  presencePenalty: number;
  logprobs?: number;
}

export interface ChaosRequest {
  /** Index of the request whose prompt and sampling this one copies (itself when distinct). */
  sameAs: number;
  /** Requests of one group share the workload's first `sharedPrefix` prompt tokens. */
  group: number;
  promptLength: number;
  sampling: ChaosSampling;
  maxTokens: number;
  arrival: ChaosMoment;
  /** Abort at a moment, or from the subscriber once it has seen `tokens` tokens. */
  abort?: { at: ChaosMoment | { tokens: number }; by: 'call' | 'unsubscribe' };
  /** Keeps generating when every subscriber is gone. */
  detached: boolean;
  /** A second subscriber joins (from inside the first one's callback) after this many tokens. */
  lateSubscriberAt?: number;
  /** Also subscribe to text$. */
  watchText: boolean;
  timeoutMs?: number;
  priority: number;
}

export interface ChaosFaults {
  seed: number;
  /** Probability that a step fails (its requests fail). */
  failRate: number;
  /** Fail after the inner executor computed the step (true) or before calling it. */
  failAfterCompute: boolean;
  /** Probability that a step is delayed by `slowMs`. */
  slowRate: number;
  slowMs: number;
}

export interface ChaosWorkload {
  engine: EngineShape;
  vocabSize: number;
  sharedPrefix: number;
  requests: ChaosRequest[];
  faults: ChaosFaults;
  /** The engine's default per-request deadline. */
  requestTimeoutMs?: number;
  maxWaiting: number;
  /** Close the engine at this moment with requests in flight (else it is closed once idle). */
  close?: { at: ChaosMoment; drain: boolean };
}

export interface ChaosArbOptions {
  maxRequests?: number;
  maxPrompt?: number;
  maxNewTokens?: number;
  vocabSizes?: number[];
  maxPages?: number;
  contextLength?: number;
  /** Wall-time moments are drawn in [0, maxMs]. */
  maxMs?: number;
  /** Allow executor faults and slow steps. */
  faults?: boolean;
  /** Draw penalties and logprobs (they change nothing in the simulator; the native executor computes them). */
  penalties?: boolean;
}

/** `arb` with probability `p`, else undefined. */
const sometimes = <T>(arb: fc.Arbitrary<T>, p: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: Math.round(100 * (1 - p)), arbitrary: fc.constant(undefined) }, { weight: Math.round(100 * p), arbitrary: arb });

const momentArb = (maxStep: number, maxMs: number): fc.Arbitrary<ChaosMoment> =>
  fc.oneof(fc.record({ step: fc.integer({ min: 0, max: maxStep }) }), fc.record({ ms: fc.integer({ min: 0, max: maxMs }) }));

const samplingArb = (vocab: number, penalties: boolean): fc.Arbitrary<ChaosSampling> =>
  fc.record({
    temperature: fc.constantFrom(0, 0, 0.7, 1.3),
    seed: fc.integer({ min: 0, max: 1 << 20 }),
    ignoreEos: fc.boolean(),
    stopTokenIds: fc.oneof({ weight: 4, arbitrary: fc.constant<number[]>([]) }, { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: vocab - 1 }), { minLength: 1, maxLength: 3 }) }),
    repetitionPenalty: penalties ? fc.constantFrom(1, 1, 1.3) : fc.constant(1),
    presencePenalty: penalties ? fc.constantFrom(0, 0, 0.5) : fc.constant(0),
    logprobs: penalties ? sometimes(fc.integer({ min: 0, max: 4 }), 1 / 3) : fc.constant(undefined),
  });

const requestArb = (vocab: number, o: Required<ChaosArbOptions>): fc.Arbitrary<ChaosRequest> =>
  fc.record(
    {
      sameAs: fc.nat(),
      group: fc.integer({ min: 0, max: 2 }),
      promptLength: fc.integer({ min: 1, max: o.maxPrompt }),
      sampling: samplingArb(vocab, o.penalties),
      maxTokens: fc.integer({ min: 1, max: o.maxNewTokens }),
      arrival: momentArb(30, o.maxMs),
      abort: sometimes(
        fc.record({
          at: fc.oneof(fc.record({ tokens: fc.integer({ min: 0, max: 12 }) }), momentArb(40, o.maxMs + 5)),
          by: fc.constantFrom('call' as const, 'unsubscribe' as const),
        }),
        1 / 3,
      ),
      detached: fc.boolean(),
      lateSubscriberAt: sometimes(fc.integer({ min: 1, max: 8 }), 1 / 4),
      watchText: fc.boolean(),
      timeoutMs: sometimes(fc.integer({ min: 1, max: o.maxMs + 10 }), 1 / 4),
      priority: fc.constantFrom(0, 0, 0, 1),
    },
    { requiredKeys: ['sameAs', 'group', 'promptLength', 'sampling', 'maxTokens', 'arrival', 'detached', 'watchText', 'priority'] },
  );

const faultsArb = (enabled: boolean): fc.Arbitrary<ChaosFaults> =>
  fc.record({
    seed: fc.nat(),
    failRate: enabled ? fc.constantFrom(0, 0, 0.02, 0.1) : fc.constant(0),
    failAfterCompute: fc.boolean(),
    slowRate: enabled ? fc.constantFrom(0, 0, 0.05, 0.2) : fc.constant(0),
    slowMs: fc.integer({ min: 1, max: 4 }),
  });

/** A chaos workload; every request fits the pool and the context alone. */
export const chaosWorkloadArb = (options: ChaosArbOptions = {}): fc.Arbitrary<ChaosWorkload> => {
  const o: Required<ChaosArbOptions> = {
    maxRequests: 14, maxPrompt: 60, maxNewTokens: 24, vocabSizes: [8, 64, 256], maxPages: 40,
    contextLength: 4096, maxMs: 12, faults: true, penalties: false, ...options,
  };
  return fc
    .record({ engine: engineShapeArb({ maxPages: o.maxPages }), vocabSize: fc.constantFrom(...o.vocabSizes) })
    .chain(({ engine, vocabSize }) =>
      fc.record(
        {
          engine: fc.constant(engine),
          vocabSize: fc.constant(vocabSize),
          sharedPrefix: fc.integer({ min: 0, max: 40 }),
          requests: fc.array(requestArb(vocabSize, o), { minLength: 1, maxLength: o.maxRequests }),
          faults: faultsArb(o.faults),
          requestTimeoutMs: sometimes(fc.integer({ min: 2, max: o.maxMs + 20 }), 1 / 4),
          maxWaiting: fc.constantFrom(Infinity, Infinity, 2, 5),
          close: sometimes(fc.record({ at: momentArb(30, o.maxMs + 5), drain: fc.boolean() }), 1 / 3),
        },
        { requiredKeys: ['engine', 'vocabSize', 'sharedPrefix', 'requests', 'faults', 'maxWaiting'] },
      ),
    )
    .map((w) => fitWorkload(w, o.contextLength));
};

/** Shrinks requests until each fits the pool, the context (and the step budget when chunking is off); links copies. */
function fitWorkload(w: ChaosWorkload, contextLength: number): ChaosWorkload {
  const { engine } = w;
  const capacity = Math.min(engine.numPages * engine.pageSize, contextLength);
  const limit = engine.chunkedPrefill ? capacity : Math.min(capacity, engine.maxBatchTokens);
  const requests: ChaosRequest[] = [];
  w.requests.forEach((request, index) => {
    // About one request in four copies an earlier one's prompt and sampling (outputs must then agree).
    const copied = index > 0 && request.sameAs % 4 === 0 ? requests[(request.sameAs >> 2) % index] : undefined;
    const sameAs = copied ? copied.sameAs : index;
    const source = copied ?? request;
    const promptLength = sameAs === index ? Math.max(1, Math.min(request.promptLength + Math.min(w.sharedPrefix, limit), limit - 1)) : source.promptLength;
    const maxTokens = Math.max(1, Math.min(request.maxTokens, limit - promptLength));
    requests.push({ ...request, sameAs, group: source.group, promptLength, sampling: source.sampling, maxTokens });
  });
  return { ...w, requests };
}

/** The prompt of a chaos request: its group's shared prefix, then tokens of its own (never token 0, the simulator's EOS). */
export function chaosPrompt(workload: ChaosWorkload, index: number): number[] {
  const key = workload.requests[index].sameAs;
  const request = workload.requests[key];
  const vocab = workload.vocabSize;
  const tokens: number[] = [];
  for (let i = 0; i < request.promptLength; i++) {
    const mixed = i < workload.sharedPrefix ? request.group * 7919 + i * 31 : key * 104729 + i * 131 + 17;
    tokens.push(1 + (mixed % (vocab - 1)));
  }
  return tokens;
}

/** Pages a request needs at most (prompt + output). */
export function chaosPages(workload: ChaosWorkload, index: number): number {
  const request = workload.requests[index];
  return pagesFor(request.promptLength + request.maxTokens, workload.engine.pageSize);
}

/** A uniform number in [0, 1) from (seed, step, salt): the same workload injects the same faults. */
export function chaosRoll(seed: number, step: number, salt: number): number {
  let x = (seed ^ Math.imul(step + 1, 0x9e3779b1) ^ Math.imul(salt + 7, 0x85ebca77)) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) >>> 0;
  x = Math.imul(x ^ (x >>> 12), 0x297a2d39) >>> 0;
  return ((x ^ (x >>> 15)) >>> 0) / 2 ** 32;
}

export const CHAOS_FAULT_CODE = 'ERR_CHAOS_FAULT';

/** Wraps an executor: steps fail (before or after the inner step ran) or run slow at random, reproducibly. */
export class ChaosExecutor implements Executor {
  readonly info: ExecutorInfo;
  numSteps = 0;
  numFailedSteps = 0;
  numSlowSteps = 0;

  constructor(private readonly inner: Executor, private readonly faults: ChaosFaults) {
    this.info = inner.info;
  }

  async step(input: StepInput): Promise<StepOutput> {
    const index = this.numSteps++;
    const { seed, failRate, slowRate, slowMs, failAfterCompute } = this.faults;
    if (chaosRoll(seed, index, 1) < slowRate) {
      this.numSlowSteps++;
      await new Promise((resolve) => setTimeout(resolve, slowMs));
    }
    const isFailing = chaosRoll(seed, index, 2) < failRate;
    if (isFailing && !failAfterCompute) throw this.fault(index);
    const output = await this.inner.step(input);
    if (isFailing) throw this.fault(index);
    return output;
  }

  close(): void {
    this.inner.close();
  }

  private fault(index: number): ExecutorError {
    this.numFailedSteps++;
    return new ExecutorError(`chaos: injected failure of step ${index}`, CHAOS_FAULT_CODE);
  }
}
