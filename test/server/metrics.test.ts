/** /metrics is Prometheus text whose counts match what the server served; /health and /v1/models. */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { serve, type Served } from './helpers.js';

let s: Served;
beforeAll(async () => {
  s = await serve();
});
afterAll(async () => {
  await s.close();
});

/** Samples of a text exposition: `name{labels}` -> value. Every non-comment line must parse. */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    expect(match, line).not.toBeNull();
    samples.set(match![1], Number(match![2]));
  }
  return samples;
}

async function scrape(): Promise<Map<string, number>> {
  const response = await fetch(`${s.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return parseExposition(await response.text());
}

describe('/metrics', () => {
  test('request, token and latency counts match the responses', async () => {
    const lengths = [5, 9, 13];
    const whole = await Promise.all(lengths.map((n) => s.client.completions.create({ model: 'tiny', prompt: `metrics ${n}`, max_tokens: n, ignore_eos: true } as any)));
    const stopped = await s.client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], max_tokens: 40, stop: ['\n', ' ', 'e', 'a', 'o', 'i', 't'] } as any);
    const usages = [...whole.map((r) => r.usage!), stopped.usage!];
    const m = await scrape();
    expect(m.get('nano_serving_requests_total{finish_reason="length"}')).toBe(3 + (stopped.choices[0].finish_reason === 'length' ? 1 : 0));
    expect((m.get('nano_serving_requests_total{finish_reason="length"}') ?? 0) + (m.get('nano_serving_requests_total{finish_reason="stop"}') ?? 0)).toBe(4);
    expect(m.get('nano_serving_prompt_tokens_total')).toBe(usages.reduce((a, u) => a + u.prompt_tokens, 0));
    expect(m.get('nano_serving_generation_tokens_total')).toBe(usages.reduce((a, u) => a + u.completion_tokens, 0));
    expect(m.get('nano_serving_time_to_first_token_seconds_count')).toBe(4);
    expect(m.get('nano_serving_request_duration_seconds_count')).toBe(4);
    const intervals = usages.reduce((a, u) => a + Math.max(0, u.completion_tokens - 1), 0);
    expect(m.get('nano_serving_inter_token_latency_seconds_count')).toBe(intervals);
    expect(m.get('nano_serving_inter_token_latency_seconds_bucket{le="+Inf"}')).toBe(intervals);
  });

  test("vLLM's metric names, labelled by model_name, carry the same numbers", async () => {
    await s.engine.whenIdle();
    const m = await scrape();
    const stats = s.engine.stats();
    const v = (name: string, extra = '') => m.get(`vllm:${name}{model_name="tiny"${extra}}`);
    expect(v('num_requests_running')).toBe(0);
    expect(v('num_requests_waiting')).toBe(0);
    expect(v('kv_cache_usage_perc')).toBeCloseTo((stats.pages.total - stats.pages.free - stats.pages.evictable) / stats.pages.total, 10);
    expect(v('prefix_cache_queries_total')).toBe(stats.promptTokens);
    expect(v('prefix_cache_hits_total')).toBe(stats.cachedTokens);
    expect(v('num_preemptions_total')).toBe(stats.preemptions);
    expect(v('prompt_tokens_total')).toBe(m.get('nano_serving_prompt_tokens_total'));
    expect(v('generation_tokens_total')).toBe(m.get('nano_serving_generation_tokens_total'));
    expect(v('time_to_first_token_seconds_count')).toBe(m.get('nano_serving_time_to_first_token_seconds_count'));
    expect(v('inter_token_latency_seconds_count')).toBe(m.get('nano_serving_inter_token_latency_seconds_count'));
    expect(v('e2e_request_latency_seconds_count')).toBe(m.get('nano_serving_request_duration_seconds_count'));
    expect((v('request_success_total', ',finished_reason="length"') ?? 0) + (v('request_success_total', ',finished_reason="stop"') ?? 0)).toBe(4);
  });

  test('error responses are counted by status', async () => {
    await fetch(`${s.url}/v1/nope`);
    await fetch(`${s.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
    await fetch(`${s.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt": "x", "n": 99}' });
    const m = await scrape();
    expect(m.get('nano_serving_http_errors_total{status="404"}')).toBe(1);
    expect(m.get('nano_serving_http_errors_total{status="400"}')).toBe(2);
  });

  test('pool and queue gauges come from engine.stats()', async () => {
    await s.engine.whenIdle();
    const m = await scrape();
    const stats = s.engine.stats();
    for (const state of ['total', 'free', 'used', 'cached', 'evictable'] as const) {
      expect(m.get(`nano_serving_kv_pages{state="${state}"}`)).toBe(stats.pages[state]);
    }
    expect(m.get('nano_serving_requests_running')).toBe(0);
    expect(m.get('nano_serving_requests_waiting')).toBe(0);
    expect(m.get('nano_serving_prefix_cache_hit_rate')).toBeCloseTo(stats.cacheHitRate, 10);
  });

  test('two servers in one process keep separate registries', async () => {
    const other = await serve();
    try {
      await other.client.completions.create({ model: 'tiny', prompt: 'other', max_tokens: 2 });
      const mine = await scrape();
      const theirs = parseExposition(await (await fetch(`${other.url}/metrics`)).text());
      expect(theirs.get('nano_serving_time_to_first_token_seconds_count')).toBe(1);
      expect(mine.get('nano_serving_time_to_first_token_seconds_count')).toBe(4);
    } finally {
      await other.close();
    }
  });
});

describe('/health and /v1/models', () => {
  test('health is ok', async () => {
    const response = await fetch(`${s.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok', model: 'tiny' });
  });

  test('the model list names the served model', async () => {
    const list = await s.client.models.list();
    expect(list.data.map((m) => m.id)).toEqual(['tiny']);
    const one = await s.client.models.retrieve('tiny');
    expect(one).toMatchObject({ id: 'tiny', object: 'model', owned_by: 'nano-serving' });
  });
});
