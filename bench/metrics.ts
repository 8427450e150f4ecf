/**
 * What a run measured, from the client's side (the same for our engine and llama.cpp):
 * each request's dispatch time and token arrival times, summarized into throughput and
 * latency percentiles. Engine-side counters are added by the caller.
 */

export interface RequestRecord {
  promptTokens: number;
  /** When the client handed the request over (after the concurrency cap let it through). */
  dispatchedAt: number;
  /** Arrival time of each output token (performance.now()). */
  tokenTimes: number[];
  doneAt: number;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
}

export interface ClientMetrics {
  numRequests: number;
  durationS: number;
  promptTokens: number;
  outputTokens: number;
  outputTokPerS: number;
  totalTokPerS: number;
  requestsPerS: number;
  /** Milliseconds. */
  ttftMs: Percentiles;
  tpotMs: Percentiles;
  itlMs: Percentiles;
}

/** Nearest-rank percentiles (0 when there are no samples). */
export function percentiles(values: ArrayLike<number>): Percentiles {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number): number => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]);
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

/** Gaps between consecutive tokens of each request, optionally only those whose later token arrived in [from, to). */
export function interTokenGaps(records: readonly RequestRecord[], from = -Infinity, to = Infinity): number[] {
  const gaps: number[] = [];
  for (const r of records) {
    for (let i = 1; i < r.tokenTimes.length; i++) {
      const t = r.tokenTimes[i];
      if (t >= from && t < to) gaps.push(t - r.tokenTimes[i - 1]);
    }
  }
  return gaps;
}

export function summarize(records: readonly RequestRecord[], startedAt: number): ClientMetrics {
  const endedAt = records.reduce((m, r) => Math.max(m, r.doneAt), startedAt);
  const durationS = (endedAt - startedAt) / 1000;
  let promptTokens = 0;
  let outputTokens = 0;
  const ttft: number[] = [];
  const tpot: number[] = [];
  for (const r of records) {
    promptTokens += r.promptTokens;
    outputTokens += r.tokenTimes.length;
    if (r.tokenTimes.length > 0) ttft.push(r.tokenTimes[0] - r.dispatchedAt);
    if (r.tokenTimes.length > 1) tpot.push((r.tokenTimes[r.tokenTimes.length - 1] - r.tokenTimes[0]) / (r.tokenTimes.length - 1));
  }
  const rate = (n: number): number => (durationS > 0 ? n / durationS : 0);
  return {
    numRequests: records.length,
    durationS,
    promptTokens,
    outputTokens,
    outputTokPerS: rate(outputTokens),
    totalTokPerS: rate(promptTokens + outputTokens),
    requestsPerS: rate(records.length),
    ttftMs: percentiles(ttft),
    tpotMs: percentiles(tpot),
    itlMs: percentiles(interTokenGaps(records)),
  };
}

/** Element-wise median of several runs' numeric fields (nested objects included); non-numbers come from the first run. */
export function medianOf<T>(runs: readonly T[]): T {
  const first = runs[0] as unknown;
  if (typeof first === 'number') {
    const sorted = (runs as unknown as number[]).slice().sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return (sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2) as T;
  }
  if (first === null || typeof first !== 'object' || Array.isArray(first)) return runs[0];
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(first as object)) out[key] = medianOf(runs.map((r) => (r as Record<string, unknown>)[key]));
  return out as T;
}
