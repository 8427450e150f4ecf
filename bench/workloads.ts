/**
 * Benchmark workloads as plain data: token-id prompts, exact output lengths (greedy,
 * EOS ignored) and arrival times. Seeded, so every engine gets the very same requests.
 */

export interface BenchRequest {
  prompt: number[];
  maxTokens: number;
  /** Milliseconds after the start of the run (0 = all at once). */
  arrivalMs: number;
  /** Shared-prefix group, when the workload has groups. */
  group?: number;
}

/** mulberry32: a small seedable generator, so workloads are reproducible. */
export function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const uniformInt = (next: () => number, lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));

/** Token ids drawn away from the special ids 0..2, so no prompt contains unk/bos/eos. */
function randomTokens(next: () => number, length: number, vocabSize: number): number[] {
  return Array.from({ length }, () => uniformInt(next, 3, vocabSize - 1));
}

/** Poisson arrivals at `rate` requests/s (exponential gaps); Infinity = all at once. */
function arrivals(next: () => number, count: number, rate: number): number[] {
  let t = 0;
  return Array.from({ length: count }, () => {
    if (!Number.isFinite(rate)) return 0;
    t += (-Math.log(1 - next()) / rate) * 1000;
    return t;
  });
}

function shuffle<T>(items: T[], next: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

export interface RandomWorkload {
  numRequests: number;
  inputLen: [number, number];
  outputLen: [number, number];
  /** Requests per second (Poisson); Infinity = all at once. */
  rate: number;
  vocabSize: number;
  seed: number;
}

/** vLLM's `random` dataset shape: input and output lengths uniform in a range. */
export function randomWorkload(w: RandomWorkload): BenchRequest[] {
  const next = rng(w.seed);
  const times = arrivals(next, w.numRequests, w.rate);
  return times.map((arrivalMs) => ({
    prompt: randomTokens(next, uniformInt(next, w.inputLen[0], w.inputLen[1]), w.vocabSize),
    maxTokens: uniformInt(next, w.outputLen[0], w.outputLen[1]),
    arrivalMs,
  }));
}

export interface SharedPrefixWorkload {
  numGroups: number;
  requestsPerGroup: number;
  prefixLen: number;
  questionLen: number;
  outputLen: number;
  rate: number;
  vocabSize: number;
  seed: number;
}

/** SGLang's generated-shared-prefix shape: G system prompts, R questions each, shuffled. */
export function sharedPrefixWorkload(w: SharedPrefixWorkload): BenchRequest[] {
  const next = rng(w.seed);
  const requests: BenchRequest[] = [];
  for (let g = 0; g < w.numGroups; g++) {
    const prefix = randomTokens(next, w.prefixLen, w.vocabSize);
    for (let r = 0; r < w.requestsPerGroup; r++) {
      requests.push({ prompt: [...prefix, ...randomTokens(next, w.questionLen, w.vocabSize)], maxTokens: w.outputLen, arrivalMs: 0, group: g });
    }
  }
  shuffle(requests, next);
  const times = arrivals(next, requests.length, w.rate);
  requests.forEach((r, i) => (r.arrivalMs = times[i]));
  return requests;
}

/**
 * The best hit rate page-aligned sharing allows: every request but the first of its group
 * reuses the full pages of the group's prefix, and never more than its prompt minus one
 * token (the last prompt token must be computed to sample from):
 *   optimum = sum_g (R_g - 1) * min(floor(P_g / S), floor((L - 1) / S)) * S  /  sum of prompt lengths L
 * with S the page size, P_g the shared prefix length, R_g the group's request count.
 */
export function optimalHitRate(requests: readonly BenchRequest[], prefixLen: number, pageSize: number): number {
  const seen = new Set<number>();
  let cached = 0;
  let total = 0;
  for (const r of requests) {
    total += r.prompt.length;
    if (r.group === undefined) continue;
    if (seen.has(r.group)) cached += Math.min(Math.floor(prefixLen / pageSize), Math.floor((r.prompt.length - 1) / pageSize)) * pageSize;
    seen.add(r.group);
  }
  return total === 0 ? 0 : cached / total;
}

/** The longest context a workload needs, for sizing KV pools and llama.cpp sequences. */
export function maxContext(requests: readonly BenchRequest[]): number {
  return requests.reduce((m, r) => Math.max(m, r.prompt.length + r.maxTokens), 0);
}
