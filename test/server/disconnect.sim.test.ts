/** A client that goes away aborts its request and frees its pages; many streams with random disconnects leave no leak. */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { expectNoLeak, parseSse, serveSimulated, type Served } from './helpers.js';

let s: Served;
beforeAll(async () => {
  s = await serveSimulated({ delayMs: 1 });
});
afterAll(async () => {
  await s.close();
});

const longStream = { prompt: 'Go on and on', max_tokens: 400, ignore_eos: true, stream: true };
const post = (body: unknown, signal?: AbortSignal) =>
  fetch(`${s.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });

function abortedCount(): number {
  return s.engine.stats().requests.aborted;
}

describe('client disconnects', () => {
  test('aborting the fetch mid-stream aborts the request; pages come back', async () => {
    const before = abortedCount();
    const controller = new AbortController();
    const response = await post(longStream, controller.signal);
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toMatch(/^data: /);
    controller.abort();
    await reader.read().catch(() => undefined);
    await expectNoLeak(s.engine);
    expect(abortedCount()).toBe(before + 1);
  });

  test('destroying the socket mid-stream aborts the request', async () => {
    const before = abortedCount();
    const { port } = new URL(s.url);
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/v1/completions', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (error) => (req.destroyed ? undefined : reject(error)));
      req.end(JSON.stringify(longStream));
    });
    await expectNoLeak(s.engine);
    expect(abortedCount()).toBe(before + 1);
  });

  test('a client that leaves before a whole (non-streamed) answer aborts it', async () => {
    const before = abortedCount();
    const submitted = s.engine.stats().requests.submitted;
    const controller = new AbortController();
    const pending = post({ ...longStream, stream: false }, controller.signal).catch((error: unknown) => error);
    // Leave only once the server has the request (on a loaded machine a fixed wait can end before it arrives).
    while (s.engine.stats().requests.submitted === submitted) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    await expectNoLeak(s.engine);
    expect(abortedCount()).toBe(before + 1);
  });
});

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Outcome {
  isDisconnected: boolean;
  isDone: boolean;
  maxTokens: number;
  usage?: { completion_tokens: number };
}

async function oneStream(rand: () => number, index: number): Promise<Outcome> {
  const maxTokens = 20 + Math.floor(rand() * 150);
  const leaveAfter = rand() < 0.5 ? 1 + Math.floor(rand() * 8) : Infinity;
  const controller = new AbortController();
  const body = { prompt: `Request ${index % 7} shares a prefix, number ${index}`, max_tokens: maxTokens, ignore_eos: true, stream: true, stream_options: { include_usage: true }, temperature: 1, seed: index };
  const response = await post(body, controller.signal);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (let reads = 0; ; reads++) {
    if (reads >= leaveAfter) {
      controller.abort();
      return { isDisconnected: true, isDone: false, maxTokens };
    }
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const { events, isDone } = parseSse(text);
  return { isDisconnected: false, isDone, maxTokens, usage: events.at(-1)?.usage };
}

test('60 concurrent streams, half disconnecting at random: the rest complete, the engine ends idle and leak-free', async () => {
  const before = s.engine.stats().requests;
  const rand = random(7);
  const outcomes = await Promise.all(Array.from({ length: 60 }, (_, i) => oneStream(rand, i)));
  await expectNoLeak(s.engine);
  const completed = outcomes.filter((o) => !o.isDisconnected);
  expect(completed.length).toBeGreaterThan(10);
  for (const o of completed) {
    expect(o.isDone).toBe(true);
    expect(o.usage?.completion_tokens).toBe(o.maxTokens);
  }
  const after = s.engine.stats().requests;
  const ended = after.finished + after.aborted - before.finished - before.aborted;
  expect(ended).toBe(60);
  expect(after.finished - before.finished).toBeGreaterThanOrEqual(completed.length);
  expect(after.failed).toBe(before.failed);
});
