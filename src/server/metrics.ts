/**
 * Prometheus metrics of one server, in its own prom-client Registry (never the global
 * one, so several servers in a process do not collide). Request outcomes and latencies
 * are counted by the server as requests end; pool and queue gauges are read from
 * engine.stats() once per scrape.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestResult } from '../engine/handle.js';
import type { EngineStats } from '../engine/stats.js';
import { VllmMetrics } from './vllm-metrics.js';

const PREFIX = 'nano_serving_';
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests = this.counter('requests_total', 'Requests ended, by finish reason (stop, length, abort, timeout, error).', ['finish_reason']);
  private readonly promptTokens = this.counter('prompt_tokens_total', 'Prompt tokens of ended requests.');
  private readonly cachedTokens = this.counter('cached_prompt_tokens_total', 'Prompt tokens served from the prefix cache.');
  private readonly generationTokens = this.counter('generation_tokens_total', 'Generated tokens of ended requests.');
  private readonly ttft = this.histogram('time_to_first_token_seconds', 'Time from submit to the first token.');
  private readonly itl = this.histogram('inter_token_latency_seconds', 'Time between consecutive tokens of a request.');
  private readonly e2e = this.histogram('request_duration_seconds', 'Time from submit to the end of a request.');
  private readonly httpErrors = this.counter('http_errors_total', 'Error responses, by HTTP status.', ['status']);
  private readonly pages = this.gauge('kv_pages', 'KV cache pages by state (total, free, used, cached, evictable).', ['state']);
  private readonly hitRate = this.gauge('prefix_cache_hit_rate', 'Prompt tokens from the prefix cache / prompt tokens, since start.');
  private readonly running = this.gauge('requests_running', 'Requests admitted to the running batch.');
  private readonly waiting = this.gauge('requests_waiting', 'Requests waiting for admission.');
  /** The same numbers under vLLM's names, labelled by model_name. */
  private readonly vllm: VllmMetrics;

  constructor(modelName = 'nano-serving') {
    this.vllm = new VllmMetrics(this.registry, modelName);
  }

  /** Counts a request that ended with a result. */
  recordResult(result: RequestResult): void {
    this.requests.inc({ finish_reason: result.finishReason });
    this.promptTokens.inc(result.promptTokens);
    this.cachedTokens.inc(result.metrics.cachedTokens);
    this.generationTokens.inc(result.outputTokens);
    if (Number.isFinite(result.metrics.ttftMs)) this.ttft.observe(result.metrics.ttftMs / 1000);
    this.e2e.observe(result.metrics.totalMs / 1000);
    this.vllm.recordResult(result);
  }

  /** Counts a request that failed inside the engine after it was accepted. */
  recordFailure(): void {
    this.requests.inc({ finish_reason: 'error' });
  }

  recordHttpError(status: number): void {
    this.httpErrors.inc({ status: String(status) });
  }

  recordInterTokenLatency(ms: number): void {
    this.itl.observe(ms / 1000);
    this.vllm.recordInterTokenLatency(ms);
  }

  /** The Prometheus text exposition, gauges refreshed from the engine. */
  async render(stats: EngineStats): Promise<string> {
    for (const state of ['total', 'free', 'used', 'cached', 'evictable'] as const) this.pages.set({ state }, stats.pages[state]);
    this.hitRate.set(stats.cacheHitRate);
    this.running.set(stats.running);
    this.waiting.set(stats.waiting);
    this.vllm.refresh(stats);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name: PREFIX + name, help, labelNames, registers: [this.registry] });
  }

  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return new Gauge({ name: PREFIX + name, help, labelNames, registers: [this.registry] });
  }

  private histogram(name: string, help: string): Histogram {
    return new Histogram({ name: PREFIX + name, help, buckets: LATENCY_BUCKETS, registers: [this.registry] });
  }
}
