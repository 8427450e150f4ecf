import fc from 'fast-check';
import { firstValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CapacityError, InvalidRequestError, NanoServingEngine } from '../../src/index.js';

let engine: NanoServingEngine;

beforeAll(async () => {
  engine = await NanoServingEngine.create({ model: 'tiny', kvCachePages: 128, pageSize: 16, maxChunkSize: 32, maxBatchTokens: 256, maxRunning: 16, threads: 2 });
});
afterAll(async () => {
  await engine.close();
});

async function idleAndClean(): Promise<void> {
  await engine.whenIdle();
  engine.checkIntegrity();
  const { pages } = engine.stats();
  expect(pages.free + pages.evictable).toBe(pages.total);
}

describe('NanoServingEngine on the tiny preset with the native executor', () => {
  it('streams each token once, in order, matching the result', async () => {
    const req = engine.submit('Hello, world', { maxTokens: 20 });
    const streamed = await firstValueFrom(req.tokens$.pipe(toArray()));
    const result = await req.done;
    expect(streamed).toEqual(result.tokens);
    expect(result.outputTokens).toBe(20);
    expect(result.finishReason).toBe('length');
    expect(result.promptTokens).toBe(12);
    await idleAndClean();
  });

  it('greedy output is identical alone and in a crowd, with and without the prefix cache', async () => {
    const prompt = 'The quick brown fox jumps over the lazy dog. '.repeat(3);
    const alone = await engine.submit(prompt, { maxTokens: 24 }).done;
    const crowd = Array.from({ length: 12 }, (_, i) => engine.submit(prompt.slice(0, 20 + i * 5), { maxTokens: 10 + i }));
    const again = engine.submit(prompt, { maxTokens: 24 });
    const [result] = await Promise.all([again.done, ...crowd.map((r) => r.done)]);
    expect(result.tokens).toEqual(alone.tokens);
    expect(result.metrics.cachedTokens).toBeGreaterThan(0);
    const noCache = await NanoServingEngine.create({ model: 'tiny', prefixCache: false, maxChunkSize: 7, kvCachePages: 64, threads: 1 });
    expect((await noCache.submit(prompt, { maxTokens: 24 }).done).tokens).toEqual(alone.tokens);
    await noCache.close();
    await idleAndClean();
  });

  it('seeded sampling is reproducible across runs and batch mixes', async () => {
    const params = { maxTokens: 16, temperature: 0.9, topP: 0.95, seed: 1234 };
    const a = await engine.submit('Once upon a time', params).done;
    const others = Array.from({ length: 6 }, (_, i) => engine.submit(`noise ${i}`, { maxTokens: 8, temperature: 1, seed: i }));
    const b = await engine.submit('Once upon a time', params).done;
    await Promise.all(others.map((o) => o.done));
    expect(b.tokens).toEqual(a.tokens);
    await idleAndClean();
  });

  it('generate returns results in input order', async () => {
    const prompts = ['a', 'bb bb', 'ccc ccc ccc', 'dddd'];
    const results = await engine.generate(prompts, { maxTokens: 5 });
    expect(results.map((r) => r.promptTokens)).toEqual([1, 5, 11, 4]);
    await idleAndClean();
  });

  it('rejects bad input with typed errors and keeps serving', async () => {
    const running = engine.submit('still here', { maxTokens: 30 });
    expect(() => engine.submit('', {})).toThrow(InvalidRequestError);
    expect(() => engine.submit([1, 2, 999], {})).toThrow(InvalidRequestError);
    expect(() => engine.submit('x', { temperature: -1 })).toThrow(InvalidRequestError);
    expect(() => engine.submit('x', { topP: Number.NaN })).toThrow(InvalidRequestError);
    expect(() => engine.submit('x', { maxTokens: 0 })).toThrow(InvalidRequestError);
    expect(() => engine.submit('x', { maxTokens: 100_000 })).toThrow(CapacityError);
    expect((await running.done).outputTokens).toBe(30);
    await idleAndClean();
  });

  it('aborts at random moments free pages and complete streams with no further tokens', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ len: fc.integer({ min: 1, max: 120 }), abortAfter: fc.integer({ min: 0, max: 12 }), maxTokens: fc.integer({ min: 1, max: 20 }) }), { minLength: 1, maxLength: 8 }), async (reqs) => {
        const outcomes = reqs.map((r, i) => {
          const handle = engine.submit('x'.repeat(r.len).replace(/x/g, (_, k) => String.fromCharCode(97 + ((k * 7 + i) % 26))), { maxTokens: r.maxTokens });
          const seen: number[] = [];
          let isComplete = false;
          handle.tokens$.subscribe({ next: (t) => { seen.push(t); if (seen.length === r.abortAfter) handle.abort(); }, complete: () => (isComplete = true) });
          if (r.abortAfter === 0) handle.abort();
          return handle.done.then((result) => ({ result, seen, isComplete: () => isComplete }));
        });
        for (const { result, seen, isComplete } of await Promise.all(outcomes)) {
          expect(seen).toEqual(result.tokens);
          expect(isComplete()).toBe(true);
        }
        await idleAndClean();
      }),
      { numRuns: 15 },
    );
  });

  it('unsubscribing every subscriber aborts; a detached request keeps running', async () => {
    const req = engine.submit('abandon me', { maxTokens: 200 });
    const sub = req.tokens$.subscribe();
    await new Promise((r) => setTimeout(r, 5));
    sub.unsubscribe();
    expect((await req.done).finishReason).toBe('abort');
    const detached = engine.submit('keep me', { maxTokens: 20 }, { detached: true });
    detached.tokens$.subscribe().unsubscribe();
    expect((await detached.done).finishReason).toBe('length');
    await idleAndClean();
  });

  it('stop strings across token boundaries never reach the text', async () => {
    const free = await engine.submit('abc', { maxTokens: 40 }).done;
    const stop = free.text.slice(3, 6);
    expect(stop).toHaveLength(3);
    const req = engine.submit('abc', { maxTokens: 40, stop: [stop] });
    const pieces = await firstValueFrom(req.text$.pipe(toArray()));
    const result = await req.done;
    expect(result.finishReason).toBe('stop');
    expect(pieces.join('')).toBe(free.text.slice(0, free.text.indexOf(stop)));
    expect(result.text).toBe(pieces.join(''));
    await idleAndClean();
  });
});
