/** fast-check arbitraries for serving workloads and engine configurations. */
import fc from 'fast-check';

export interface WorkloadRequest {
  /** Requests of one group share their first `sharedPrefix` tokens. */
  group: number;
  promptLength: number;
  maxTokens: number;
  /** Submitted once the engine has run this many steps. */
  arrivalStep: number;
  temperature: number;
  seed: number;
  /** Abort after this many streamed tokens (0 = right away, before any). */
  abortAfterTokens?: number;
  /** How the abort is done: abort() or unsubscribing the only subscriber. */
  abortBy: 'call' | 'unsubscribe';
  priority: number;
}

export interface EngineShape {
  numPages: number;
  pageSize: number;
  maxBatchTokens: number;
  maxRunning: number;
  maxChunkSize: number;
  chunkedPrefill: boolean;
  prefixCache: boolean;
}

export interface Workload {
  engine: EngineShape;
  vocabSize: number;
  sharedPrefix: number;
  requests: WorkloadRequest[];
  /** Fail every step whose index is in this set (executor faults). */
  failingSteps: number[];
}

export const engineShapeArb = (options: { maxPages?: number } = {}): fc.Arbitrary<EngineShape> =>
  fc.record({
    numPages: fc.integer({ min: 6, max: options.maxPages ?? 48 }),
    pageSize: fc.constantFrom(1, 2, 4, 8, 16),
    maxBatchTokens: fc.integer({ min: 8, max: 256 }),
    maxRunning: fc.integer({ min: 1, max: 16 }),
    maxChunkSize: fc.integer({ min: 1, max: 64 }),
    chunkedPrefill: fc.boolean(),
    prefixCache: fc.boolean(),
  });

/**
 * One request. Shrinks well: arrivals are gaps after the previous request (shrinking one
 * gap moves no other request), an abort is one optional field (shrinks away whole), and
 * every number shrinks toward the simplest case (one token, no priority, greedy).
 */
export const workloadRequestArb = (maxPrompt: number): fc.Arbitrary<WorkloadRequest & { arrivalGap: number }> =>
  fc
    .record({
      group: fc.integer({ min: 0, max: 2 }),
      promptLength: fc.integer({ min: 1, max: maxPrompt }),
      maxTokens: fc.integer({ min: 1, max: 24 }),
      arrivalGap: fc.integer({ min: 0, max: 8 }),
      temperature: fc.constantFrom(0, 0, 0.8),
      seed: fc.integer({ min: 0, max: 1000 }),
      abort: fc.option(fc.record({ afterTokens: fc.integer({ min: 0, max: 12 }), by: fc.constantFrom('call' as const, 'unsubscribe' as const) }), { freq: 4, nil: undefined }),
      priority: fc.constantFrom(0, 0, 0, 1),
    })
    .map(({ abort, ...r }) => ({ ...r, arrivalStep: 0, abortAfterTokens: abort?.afterTokens, abortBy: abort?.by ?? ('call' as const) }));

/** Arrival steps from the gaps: each request arrives `arrivalGap` steps after the one before it. */
function withArrivalSteps(requests: ReadonlyArray<WorkloadRequest & { arrivalGap: number }>): WorkloadRequest[] {
  let step = 0;
  return requests.map(({ arrivalGap, ...r }) => ({ ...r, arrivalStep: (step += arrivalGap) }));
}

/**
 * A workload whose every request fits the pool alone (others are a separate, submit-time
 * error case). The engine shape and the requests shrink independently (the shape toward
 * the smallest engine), and a counterexample prints as describeWorkload writes it.
 */
export const workloadArb = (options: { maxRequests?: number; maxPrompt?: number; faults?: boolean } = {}): fc.Arbitrary<Workload> =>
  fc
    .record({
      engine: engineShapeArb(),
      vocabSize: fc.constantFrom(8, 64, 256),
      sharedPrefix: fc.integer({ min: 0, max: 40 }),
      requests: fc.array(workloadRequestArb(options.maxPrompt ?? 60), { minLength: 1, maxLength: options.maxRequests ?? 12 }),
      failingSteps: options.faults ? fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 3 }) : fc.constant<number[]>([]),
    })
    .map((w) => readable({ ...w, requests: withArrivalSteps(w.requests).map((r) => fitRequest(r, w.engine, w.sharedPrefix)) }));

/** Gives a workload fast-check's toString (used in counterexamples): describeWorkload. */
function readable(workload: Workload): Workload {
  Object.defineProperty(workload, fc.toStringMethod, { value: () => describeWorkload(workload), enumerable: false });
  return workload;
}

/**
 * A workload in one short line, fields at their defaults left out: the engine shape, then
 * each request as `#index +gap prompt/maxTokens` with what differs from the simplest
 * request (group when prefixes are shared, temperature and seed when sampled, priority,
 * abort), and the failing steps if any.
 */
export function describeWorkload(w: Workload): string {
  const e = w.engine;
  const engine = `pages ${e.numPages}x${e.pageSize}, budget ${e.maxBatchTokens}, running ${e.maxRunning}, ${e.chunkedPrefill ? `chunks ${e.maxChunkSize}` : 'no chunking'}, cache ${e.prefixCache ? 'on' : 'off'}`;
  let previous = 0;
  const requests = w.requests.map((r, i) => {
    const parts = [`#${i} +${r.arrivalStep - previous} prompt ${r.promptLength}/${r.maxTokens}`];
    previous = r.arrivalStep;
    if (w.sharedPrefix > 0) parts.push(`group ${r.group}`);
    if (r.temperature !== 0) parts.push(`temp ${r.temperature} seed ${r.seed}`);
    if (r.priority !== 0) parts.push(`priority ${r.priority}`);
    if (r.abortAfterTokens !== undefined) parts.push(`${r.abortBy === 'call' ? 'abort' : 'unsubscribe'} after ${r.abortAfterTokens}`);
    return parts.join(' ');
  });
  const prefix = w.sharedPrefix > 0 ? `, shared prefix ${w.sharedPrefix}` : '';
  const faults = w.failingSteps.length > 0 ? `, failing steps ${w.failingSteps.join(' ')}` : '';
  return `workload(${engine}; vocab ${w.vocabSize}${prefix}${faults}; ${requests.join('; ')})`;
}

/** Shrinks a request until it fits the pool (and the step budget when chunking is off). */
function fitRequest(request: WorkloadRequest, engine: EngineShape, sharedPrefix: number): WorkloadRequest {
  const capacity = engine.numPages * engine.pageSize;
  const limit = engine.chunkedPrefill ? capacity : Math.min(capacity, engine.maxBatchTokens);
  let { promptLength, maxTokens } = request;
  promptLength = Math.max(1, Math.min(promptLength + Math.min(sharedPrefix, limit), limit - 1));
  maxTokens = Math.max(1, Math.min(maxTokens, limit - promptLength));
  return { ...request, promptLength, maxTokens };
}

/** The prompt of a workload request: the group's shared prefix, then tokens of its own. */
export function promptOf(workload: Workload, index: number): number[] {
  const request = workload.requests[index];
  const vocab = workload.vocabSize;
  const tokens: number[] = [];
  for (let i = 0; i < request.promptLength; i++) {
    const isShared = i < workload.sharedPrefix;
    const key = isShared ? request.group * 7919 + i * 31 : index * 104729 + i * 131 + 17;
    tokens.push(1 + (key % (vocab - 1)));
  }
  return tokens;
}
