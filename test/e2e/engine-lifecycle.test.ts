import { firstValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { EngineClosedError, NanoServingEngine, type EngineEvent } from '../../src/index.js';

const create = () => NanoServingEngine.create({ model: 'tiny', kvCachePages: 64, maxChunkSize: 16, maxBatchTokens: 128, threads: 1 });

describe('engine lifecycle, events and streams (tiny, native)', () => {
  it('state$ walks the lifecycle; events$ reports lifecycle changes and steps', async () => {
    const engine = await create();
    const events: EngineEvent[] = [];
    const sub = engine.events$.subscribe((e) => events.push(e));
    const req = engine.submit('x'.repeat(40), { maxTokens: 5 });
    const states = firstValueFrom(req.state$.pipe(toArray()));
    await req.done;
    const seen = await states;
    expect(seen).toEqual(['waiting', 'prefilling', 'decoding', 'releasing', 'finished']);
    const lifecycle = events.filter((e) => e.type === 'request.state' && e.id === req.id).map((e) => (e as { state: string }).state);
    expect(lifecycle).toEqual(['waiting', 'prefilling', 'decoding', 'releasing', 'finished']);
    const steps = events.filter((e) => e.type === 'step') as Array<Extract<EngineEvent, { type: 'step' }>>;
    expect(steps.reduce((s, e) => s + e.numPrefillTokens, 0)).toBe(40); // chunks of 16, 16, 8
    expect(steps.reduce((s, e) => s + e.numDecodeTokens, 0)).toBe(4);
    expect(engine.stats().steps).toBe(steps.length);
    sub.unsubscribe();
    await engine.close();
  });

  it('a late subscriber gets every token once (buffered per request)', async () => {
    const engine = await create();
    const req = engine.submit('late', { maxTokens: 12 }, { detached: true });
    const result = await req.done;
    expect(await firstValueFrom(req.tokens$.pipe(toArray()))).toEqual(result.tokens);
    expect((await firstValueFrom(req.text$.pipe(toArray()))).join('')).toBe(result.text);
    await engine.close();
  });

  it('close() aborts requests in flight, frees everything and refuses new work', async () => {
    const engine = await create();
    const reqs = Array.from({ length: 6 }, (_, i) => engine.submit(`request ${i}`, { maxTokens: 200 }));
    await new Promise((r) => setTimeout(r, 10));
    await engine.close();
    for (const r of await Promise.all(reqs.map((q) => q.done))) expect(r.finishReason).toBe('abort');
    expect(() => engine.submit('after', {})).toThrow(EngineClosedError);
  });

  it('close({ drain: true }) lets requests in flight finish', async () => {
    const engine = await create();
    const reqs = Array.from({ length: 4 }, (_, i) => engine.submit(`request ${i}`, { maxTokens: 20 }));
    await engine.close({ drain: true });
    for (const r of await Promise.all(reqs.map((q) => q.done))) expect(r.finishReason).toBe('length');
  });

  it('stats agree with what the requests saw', async () => {
    const engine = await create();
    const results = await engine.generate(['aaaa', 'bbbbbbbb', 'cc'], { maxTokens: 7 });
    const stats = engine.stats();
    expect(stats.generatedTokens).toBe(results.reduce((s, r) => s + r.outputTokens, 0));
    expect(stats.promptTokens).toBe(14);
    expect(stats.prefillTokens + stats.cachedTokens).toBe(14);
    expect(stats.decodeTokens).toBe(3 * 6);
    expect(stats.requests.finished).toBe(3);
    expect(stats.ttft.count).toBe(3);
    expect(stats.itl.count).toBe(18);
    await engine.close();
  });
});
