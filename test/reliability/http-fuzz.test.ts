/**
 * HTTP fuzz against a real server on 127.0.0.1 (tiny model, native executor): malformed
 * JSON, wrong types, huge and negative numbers, unknown fields, oversized bodies, wrong
 * media types; slow and abandoned connections; 220 concurrent streams with random
 * disconnects. Every answer must be right (status, error shape, the text a lone request
 * gets), no 5xx, and the engine must end idle with no page leaked. Bounded: a few hundred
 * requests, ~10 s.
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NanoServingEngine } from '../../src/index.js';
import { createServer, type NanoServer } from '../../src/server/index.js';
import { postJson, send, streamAndMaybeHangUp, trickle, type RawResponse } from './http-client.js';
import { fuzzCaseArb, PINNED_CASES, type FuzzCase } from './http-fuzz-cases.js';

let engine: NanoServingEngine;
let server: NanoServer;
const BODY_LIMIT = 64 * 1024;

beforeAll(async () => {
  engine = await NanoServingEngine.create({ model: 'tiny', kvCachePages: 96, pageSize: 8, maxRunning: 48, maxBatchTokens: 256, maxChunkSize: 64, threads: 1 });
  server = await createServer(engine, { host: '127.0.0.1', port: 0, bodyLimit: BODY_LIMIT });
});
afterAll(async () => {
  await server.close();
  await engine.close();
});
afterEach(async () => {
  await engine.whenIdle();
  engine.checkIntegrity();
  const { pages, running, waiting, requests } = engine.stats();
  expect(running + waiting).toBe(0);
  expect(pages.free + pages.evictable).toBe(pages.total);
  expect(requests.failed).toBe(0);
});

/** Problems with one answer, judged against what the case expects. */
function judge(c: FuzzCase, res: RawResponse): string[] {
  const problems: string[] = [];
  if (!c.expect.statuses.includes(res.status)) problems.push(`status ${res.status}, expected ${c.expect.statuses.join('|')}: ${res.text.slice(0, 200)}`);
  if (res.status >= 500) problems.push('a 5xx for client input');
  let json: any;
  try {
    json = JSON.parse(res.text);
  } catch {
    return [...problems, `body is not JSON: ${res.text.slice(0, 100)}`];
  }
  if (res.status === 200) {
    const choice = json?.choices?.[0];
    const text = c.path.endsWith('/chat/completions') ? choice?.message?.content : choice?.text;
    if (typeof text !== 'string') problems.push('200 without a text');
    if (!['stop', 'length'].includes(choice?.finish_reason)) problems.push(`finish_reason ${choice?.finish_reason}`);
    const usage = json?.usage;
    if (!(usage?.prompt_tokens > 0) || usage.total_tokens !== usage.prompt_tokens + usage.completion_tokens) problems.push(`usage ${JSON.stringify(usage)}`);
    if (c.maxTokens !== undefined && !(usage?.completion_tokens <= c.maxTokens)) problems.push(`${usage?.completion_tokens} tokens > max ${c.maxTokens}`);
    return problems;
  }
  const error = json?.error;
  const isShaped = error && typeof error.message === 'string' && typeof error.type === 'string' && (error.param === null || typeof error.param === 'string') && (error.code === null || typeof error.code === 'string');
  if (!isShaped) problems.push(`error body is not OpenAI-shaped: ${res.text.slice(0, 200)}`);
  if (c.expect.param !== undefined && error?.param !== c.expect.param) problems.push(`param ${error?.param}, expected ${c.expect.param}`);
  if (c.expect.code !== undefined && error?.code !== c.expect.code) problems.push(`code ${error?.code}, expected ${c.expect.code}`);
  return problems;
}

async function inPool<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
}

describe('HTTP fuzz (127.0.0.1)', () => {
  it('random and malformed bodies: the right status and error shape every time, never a 5xx', async () => {
    const cases = [...PINNED_CASES, ...fc.sample(fuzzCaseArb(BODY_LIMIT), { numRuns: 1000 })];
    const failures: string[] = [];
    await inPool(cases, 8, async (c) => {
      const res = await send(server.port, c.method ?? 'POST', c.path, c.body, c.contentType === undefined ? {} : { 'content-type': c.contentType });
      for (const problem of judge(c, res)) failures.push(`${c.label}: ${problem}\n    body: ${(c.body ?? '').slice(0, 160)}`);
    });
    expect(failures.slice(0, 10)).toEqual([]);
    // The server still serves.
    expect((await postJson(server.port, '/v1/completions', { prompt: 'still here', max_tokens: 3, temperature: 0 })).status).toBe(200);
  });

  it('slow, half-sent and abandoned connections leave nothing behind; a slow but complete request is served', async () => {
    const body = JSON.stringify({ prompt: 'slowly', max_tokens: 4, temperature: 0 });
    const head = `POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const bystanders = Array.from({ length: 8 }, (_, i) => postJson(server.port, '/v1/completions', { prompt: `bystander ${i}`, max_tokens: 12, temperature: 0 }));
    const [slowWhole, ...abandoned] = await Promise.all([
      trickle(server.port, [...head.match(/.{1,16}/gs)!, ...body.match(/.{1,4}/gs)!, ''], 2).then(() => undefined),
      trickle(server.port, ['POST /v1/completions HTTP/1.1\r\nHost: x\r\n'], 20), // headers never finish
      trickle(server.port, [head, body.slice(0, 10)], 20), // body never finishes
      trickle(server.port, [], 5), // connects, says nothing
      trickle(server.port, [head.replace('Connection: close', 'Connection: keep-alive'), body], 1), // hangs up before the answer
      trickle(server.port, ['GARBAGE / HTTP/9\r\n\r\n'], 5),
      ...Array.from({ length: 6 }, (_, i) => streamAndMaybeHangUp(server.port, '/v1/completions', { prompt: `gone ${i}`, max_tokens: 200, stream: true, temperature: 0 }, i % 3)),
    ]);
    void slowWhole;
    void abandoned;
    for (const res of await Promise.all(bystanders)) expect(JSON.parse(res.text).choices[0].finish_reason).toBe('length');
    // A slow client that sends everything gets its answer.
    const received = await new Promise<string>((resolve) => {
      let text = '';
      const parts = [...head.match(/.{1,8}/gs)!, ...body.match(/.{1,3}/gs)!];
      void (async () => {
        const { connect } = await import('node:net');
        const socket = connect({ host: '127.0.0.1', port: server.port });
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (text += chunk));
        socket.on('close', () => resolve(text));
        for (const part of parts) {
          socket.write(part);
          await new Promise((r) => setTimeout(r, 1));
        }
      })();
    });
    expect(received).toMatch(/^HTTP\/1\.1 200/);
    expect(JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4)).usage.completion_tokens).toBe(4);
  });

  it('220 concurrent streams with random disconnects: each finished stream is exactly what a lone request gets', async () => {
    const prompts = Array.from({ length: 12 }, (_, i) => `Stream ${i}: ${'abcdefghij'.slice(0, 1 + (i % 10))} the quick brown fox`);
    const before = engine.stats().requests;
    const plans = fc.sample(
      fc.record({ prompt: fc.integer({ min: 0, max: prompts.length - 1 }), maxTokens: fc.integer({ min: 1, max: 40 }), hangUpAfter: fc.option(fc.integer({ min: 0, max: 20 }), { freq: 2, nil: undefined }), usage: fc.boolean() }),
      { numRuns: 220 },
    );
    const streams = await Promise.all(
      plans.map((p) =>
        streamAndMaybeHangUp(
          server.port,
          '/v1/completions',
          { prompt: prompts[p.prompt], max_tokens: p.maxTokens, temperature: 0, stream: true, stream_options: { include_usage: p.usage } },
          p.hangUpAfter,
        ),
      ),
    );
    await engine.whenIdle();
    // What a lone request returns for each (prompt, max_tokens), asked afterwards.
    const reference = new Map<string, { text: string; finish: string; tokens: number }>();
    const keys = [...new Set(plans.map((p) => `${p.prompt}/${p.maxTokens}`))];
    await inPool(keys, 8, async (key) => {
      const [prompt, maxTokens] = key.split('/').map(Number);
      const res = await postJson(server.port, '/v1/completions', { prompt: prompts[prompt], max_tokens: maxTokens, temperature: 0 });
      const json = JSON.parse(res.text);
      reference.set(key, { text: json.choices[0].text, finish: json.choices[0].finish_reason, tokens: json.usage.completion_tokens });
    });
    let completed = 0;
    let hungUp = 0;
    streams.forEach((s, i) => {
      const plan = plans[i];
      const ref = reference.get(`${plan.prompt}/${plan.maxTokens}`)!;
      const pieces = s.events.flatMap((e) => e.choices.map((c: { text: string }) => c.text));
      const text = pieces.join('');
      if (s.status !== 0) expect(s.status).toBe(200);
      if (s.hungUp && !s.isDone) {
        hungUp++;
        expect(ref.text.startsWith(text)).toBe(true);
        return;
      }
      completed++;
      expect(s.isDone).toBe(true);
      expect(text).toBe(ref.text);
      const finishes = s.events.flatMap((e) => e.choices.filter((c: { finish_reason: string | null }) => c.finish_reason !== null));
      expect(finishes.map((c: { finish_reason: string }) => c.finish_reason)).toEqual([ref.finish]);
      const usage = s.events.filter((e) => e.usage).map((e) => e.usage.completion_tokens);
      expect(usage).toEqual(plan.usage ? [ref.tokens] : []);
    });
    const after = engine.stats().requests;
    const submitted = after.submitted - before.submitted - keys.length;
    expect(submitted).toBe(220);
    expect(after.aborted - before.aborted).toBeLessThanOrEqual(hungUp);
    expect(completed + hungUp).toBe(220);
    expect(completed).toBeGreaterThan(50);
    expect(hungUp).toBeGreaterThan(50);
  });
});
