/** Engine counters and latency percentiles. Counted where things happen; tests cross-check them. */

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  count: number;
}

export interface EngineStats {
  steps: number;
  /** Tokens computed by prefill runs (the cached prefix is not computed). */
  prefillTokens: number;
  decodeTokens: number;
  /** Prompt tokens reused from the prefix cache at admission. */
  cachedTokens: number;
  promptTokens: number;
  /** cachedTokens / promptTokens over admitted requests. */
  cacheHitRate: number;
  generatedTokens: number;
  tokensPerStep: number;
  /** Generated tokens per second of time spent in steps. */
  throughput: number;
  requests: { submitted: number; finished: number; aborted: number; failed: number; timedOut: number };
  running: number;
  waiting: number;
  preemptions: number;
  pages: { total: number; free: number; used: number; cached: number; evictable: number; evictions: number };
  /** Milliseconds. */
  ttft: Percentiles;
  itl: Percentiles;
}

/** Keeps the most recent `capacity` samples for percentiles. */
export class SampleWindow {
  private readonly values: Float64Array;
  private next = 0;
  private size = 0;

  constructor(capacity = 16384) {
    this.values = new Float64Array(capacity);
  }

  add(value: number): void {
    this.values[this.next] = value;
    this.next = (this.next + 1) % this.values.length;
    if (this.size < this.values.length) this.size++;
  }

  percentiles(): Percentiles {
    const sorted = Float64Array.from(this.values.subarray(0, this.size)).sort();
    const at = (q: number): number => (this.size === 0 ? 0 : sorted[Math.min(this.size - 1, Math.floor(q * this.size))]);
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99), count: this.size };
  }
}

export class StatsCounters {
  steps = 0;
  prefillTokens = 0;
  decodeTokens = 0;
  cachedTokens = 0;
  promptTokens = 0;
  generatedTokens = 0;
  stepTimeMs = 0;
  submitted = 0;
  finished = 0;
  aborted = 0;
  failed = 0;
  timedOut = 0;
  preemptions = 0;
  readonly ttft = new SampleWindow();
  readonly itl = new SampleWindow();
}

/** A snapshot of the counters and the page pool. */
export function buildStats(
  c: StatsCounters,
  kv: { numFree: number; numEvictable: number; cache?: { stats(): { cachedPages: number; evictions: number } } },
  numPages: number,
  running: number,
  waiting: number,
): EngineStats {
  const cacheStats = kv.cache?.stats();
  return {
    steps: c.steps,
    prefillTokens: c.prefillTokens,
    decodeTokens: c.decodeTokens,
    cachedTokens: c.cachedTokens,
    promptTokens: c.promptTokens,
    cacheHitRate: c.promptTokens === 0 ? 0 : c.cachedTokens / c.promptTokens,
    generatedTokens: c.generatedTokens,
    tokensPerStep: c.steps === 0 ? 0 : (c.prefillTokens + c.decodeTokens) / c.steps,
    throughput: c.stepTimeMs === 0 ? 0 : (c.generatedTokens * 1000) / c.stepTimeMs,
    requests: { submitted: c.submitted, finished: c.finished, aborted: c.aborted, failed: c.failed, timedOut: c.timedOut },
    running,
    waiting,
    preemptions: c.preemptions,
    pages: {
      total: numPages,
      free: kv.numFree,
      used: numPages - kv.numFree,
      cached: cacheStats?.cachedPages ?? 0,
      evictable: kv.numEvictable,
      evictions: cacheStats?.evictions ?? 0,
    },
    ttft: c.ttft.percentiles(),
    itl: c.itl.percentiles(),
  };
}
