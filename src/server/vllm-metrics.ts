/**
 * The same numbers under vLLM's metric names (labelled by model_name), so load balancers and
 * dashboards built for LLM servers (the Kubernetes Gateway API inference extension, llm-d,
 * vLLM's Grafana boards) read this server as they read vLLM. Counters carry Prometheus'
 * `_total` suffix as vLLM's exposition does (`vllm:prompt_tokens_total`).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RequestResult } from '../engine/handle.js';
import type { EngineStats } from '../engine/stats.js';

const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];

export class VllmMetrics {
  private readonly labels: { model_name: string };
  private readonly seen = new Map<Counter<'model_name'>, number>();
  private readonly running: Gauge<'model_name'>;
  private readonly waiting: Gauge<'model_name'>;
  private readonly kvUsage: Gauge<'model_name'>;
  private readonly cacheQueries: Counter<'model_name'>;
  private readonly cacheHits: Counter<'model_name'>;
  private readonly preemptions: Counter<'model_name'>;
  private readonly promptTokens: Counter<'model_name'>;
  private readonly generationTokens: Counter<'model_name'>;
  private readonly ttft: Histogram<'model_name'>;
  private readonly itl: Histogram<'model_name'>;
  private readonly e2e: Histogram<'model_name'>;
  private readonly success: Counter<'model_name' | 'finished_reason'>;

  constructor(registry: Registry, modelName: string) {
    this.labels = { model_name: modelName };
    const labelNames = ['model_name'] as const;
    const registers = [registry];
    const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames, registers });
    const counter = (name: string, help: string) => new Counter({ name, help, labelNames, registers });
    const histogram = (name: string, help: string) => new Histogram({ name, help, labelNames, buckets: LATENCY_BUCKETS, registers });
    this.running = gauge('vllm:num_requests_running', 'Number of requests in the running batch.');
    this.waiting = gauge('vllm:num_requests_waiting', 'Number of requests waiting to be admitted.');
    this.kvUsage = gauge('vllm:kv_cache_usage_perc', 'KV-cache usage: 1 means 100 percent (pages held by requests / all pages).');
    this.cacheQueries = counter('vllm:prefix_cache_queries_total', 'Prefix cache queries, in prompt tokens.');
    this.cacheHits = counter('vllm:prefix_cache_hits_total', 'Prefix cache hits, in prompt tokens.');
    this.preemptions = counter('vllm:num_preemptions_total', 'Cumulative number of preemptions.');
    this.promptTokens = counter('vllm:prompt_tokens_total', 'Prompt tokens processed (of ended requests).');
    this.generationTokens = counter('vllm:generation_tokens_total', 'Generation tokens produced (of ended requests).');
    this.ttft = histogram('vllm:time_to_first_token_seconds', 'Time to the first token, in seconds.');
    this.itl = histogram('vllm:inter_token_latency_seconds', 'Time between consecutive output tokens, in seconds.');
    this.e2e = histogram('vllm:e2e_request_latency_seconds', 'End-to-end request latency, in seconds.');
    this.success = new Counter({ name: 'vllm:request_success_total', help: 'Requests that ended with a result, by finish reason.', labelNames: ['model_name', 'finished_reason'], registers });
    for (const c of [this.cacheQueries, this.cacheHits, this.preemptions, this.promptTokens, this.generationTokens]) c.inc(this.labels, 0);
  }

  recordResult(result: RequestResult): void {
    this.promptTokens.inc(this.labels, result.promptTokens);
    this.generationTokens.inc(this.labels, result.outputTokens);
    if (Number.isFinite(result.metrics.ttftMs)) this.ttft.observe(this.labels, result.metrics.ttftMs / 1000);
    this.e2e.observe(this.labels, result.metrics.totalMs / 1000);
    this.success.inc({ ...this.labels, finished_reason: result.finishReason === 'timeout' ? 'length' : result.finishReason });
  }

  recordInterTokenLatency(ms: number): void {
    this.itl.observe(this.labels, ms / 1000);
  }

  /** Gauges and engine-side counters, refreshed from engine.stats() at each scrape. */
  refresh(stats: EngineStats): void {
    this.running.set(this.labels, stats.running);
    this.waiting.set(this.labels, stats.waiting);
    const held = stats.pages.total - stats.pages.free - stats.pages.evictable;
    this.kvUsage.set(this.labels, stats.pages.total > 0 ? held / stats.pages.total : 0);
    this.advance(this.cacheQueries, stats.promptTokens);
    this.advance(this.cacheHits, stats.cachedTokens);
    this.advance(this.preemptions, stats.preemptions);
  }

  /** A counter follows a monotonic engine count (it only ever moves forward). */
  private advance(counter: Counter<'model_name'>, total: number): void {
    const seen = this.seen.get(counter) ?? 0;
    if (total > seen) counter.inc(this.labels, total - seen);
    this.seen.set(counter, Math.max(seen, total));
  }
}
