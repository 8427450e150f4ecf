/**
 * Limits users can set, and what happens at them: the waiting-queue cap (ERR_QUEUE_FULL,
 * others unaffected), prompt and output length (the context, maxPromptTokens,
 * maxOutputTokens: ERR_CONTEXT_LENGTH), the KV pool, per-request deadlines and the
 * engine-wide default (finishReason 'timeout', stream completed, pages freed), and bad
 * values for each limit (typed errors at once).
 */
import { firstValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { CapacityError, InvalidRequestError, NanoServingEngine, SimulatedExecutor, type EngineOptions, type RequestHandle } from '../../src/index.js';

const CONTEXT = 64;

function simulated(options: EngineOptions & { delayMs?: number; numPages?: number } = {}): Promise<NanoServingEngine> {
  const { delayMs, numPages, ...engineOptions } = options;
  const executor = new SimulatedExecutor({ vocabSize: 256, contextLength: CONTEXT, numPages: numPages ?? 32, pageSize: 4, delayMs });
  return NanoServingEngine.create({ executor, maxBatchTokens: 64, maxChunkSize: 16, ...engineOptions });
}

const prompt = (length: number, salt = 1): number[] => Array.from({ length }, (_, i) => 1 + ((i * 7 + salt * 13) % 250));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

async function expectIdleAndClean(engine: NanoServingEngine): Promise<void> {
  await engine.whenIdle();
  engine.checkIntegrity();
  const { pages, running, waiting } = engine.stats();
  expect(running + waiting).toBe(0);
  expect(pages.free + pages.evictable).toBe(pages.total);
}

/** Streams tokens into an array and reports how the stream ended. */
function watch(handle: RequestHandle): { tokens: number[]; ended: () => string } {
  const tokens: number[] = [];
  let ended = 'open';
  handle.tokens$.subscribe({ next: (t) => tokens.push(t), complete: () => (ended = 'complete'), error: () => (ended = 'error') });
  return { tokens, ended: () => ended };
}

describe('maxWaiting: the waiting-queue cap', () => {
  it('refuses submits past the cap with ERR_QUEUE_FULL and leaves the queued requests unaffected', async () => {
    const engine = await simulated({ maxWaiting: 3, maxRunning: 1 });
    const accepted = [0, 1, 2].map((i) => engine.submit(prompt(5, i), { maxTokens: 6, ignoreEos: true }));
    let refusal: unknown;
    try {
      engine.submit(prompt(5, 9), { maxTokens: 6 });
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(CapacityError);
    expect((refusal as CapacityError).code).toBe('ERR_QUEUE_FULL');
    const results = await Promise.all(accepted.map((h) => h.done));
    for (const result of results) expect(result).toMatchObject({ finishReason: 'length', outputTokens: 6 });
    expect(engine.stats().requests.submitted).toBe(3);
    // The queue drained: new work is accepted again.
    expect((await engine.submit(prompt(5, 9), { maxTokens: 2, ignoreEos: true }).done).outputTokens).toBe(2);
    await expectIdleAndClean(engine);
    await engine.close();
  });

  it('counts only waiting requests: admitted ones free their queue place', async () => {
    const engine = await simulated({ maxWaiting: 1, maxRunning: 4, delayMs: 2 });
    const first = engine.submit(prompt(4), { maxTokens: 20, ignoreEos: true });
    await new Promise((resolve) => setTimeout(resolve, 10)); // admitted by now
    const second = engine.submit(prompt(4, 2), { maxTokens: 3, ignoreEos: true });
    expect(codeOf(() => engine.submit(prompt(4, 3), { maxTokens: 3 }))).toBe('ERR_QUEUE_FULL');
    await Promise.all([first.done, second.done]);
    await expectIdleAndClean(engine);
    await engine.close();
  });

  it('rejects a maxWaiting that is not an integer >= 1', async () => {
    for (const maxWaiting of [0, -1, 1.5, Number.NaN]) await expect(simulated({ maxWaiting })).rejects.toThrow(InvalidRequestError);
  });
});

describe('prompt and output length', () => {
  it('prompt + maxTokens past the context is ERR_CONTEXT_LENGTH; exactly at it is served', async () => {
    const engine = await simulated();
    expect(codeOf(() => engine.submit(prompt(60), { maxTokens: 5 }))).toBe('ERR_CONTEXT_LENGTH');
    const result = await engine.submit(prompt(60), { maxTokens: 4, ignoreEos: true }).done;
    expect(result).toMatchObject({ finishReason: 'length', outputTokens: 4 });
    await engine.close();
  });

  it('a prompt that fills the context, or is longer, is ERR_CONTEXT_LENGTH also without maxTokens', async () => {
    const engine = await simulated({ numPages: 64 });
    for (const length of [CONTEXT, CONTEXT + 1, 10 * CONTEXT]) {
      expect(() => engine.submit(prompt(length), {})).toThrow(CapacityError);
      expect(codeOf(() => engine.submit(prompt(length), {}))).toBe('ERR_CONTEXT_LENGTH');
    }
    // One token short of the context: the default maxTokens leaves room for exactly one token.
    const result = await engine.submit(prompt(CONTEXT - 1), { ignoreEos: true }).done;
    expect(result).toMatchObject({ finishReason: 'length', outputTokens: 1 });
    await expectIdleAndClean(engine);
    await engine.close();
  });

  it('a request larger than the KV pool is ERR_KV_CAPACITY at submit', async () => {
    const engine = await simulated({ numPages: 4 }); // 16 tokens
    expect(codeOf(() => engine.submit(prompt(10), { maxTokens: 7 }))).toBe('ERR_KV_CAPACITY');
    expect((await engine.submit(prompt(10), { maxTokens: 6, ignoreEos: true }).done).outputTokens).toBe(6);
    await engine.close();
  });

  it('maxPromptTokens caps prompts below the context (ERR_CONTEXT_LENGTH); the others are served', async () => {
    const engine = await simulated({ maxPromptTokens: 10 });
    expect(codeOf(() => engine.submit(prompt(11), { maxTokens: 1 }))).toBe('ERR_CONTEXT_LENGTH');
    expect(() => engine.submit(prompt(11), {})).toThrow(/maxPromptTokens/);
    expect((await engine.submit(prompt(10), { maxTokens: 3, ignoreEos: true }).done).outputTokens).toBe(3);
    await engine.close();
  });

  it('maxOutputTokens caps maxTokens (ERR_CONTEXT_LENGTH) and is the default when maxTokens is not given', async () => {
    const engine = await simulated({ maxOutputTokens: 5 });
    expect(codeOf(() => engine.submit(prompt(3), { maxTokens: 6 }))).toBe('ERR_CONTEXT_LENGTH');
    expect(() => engine.submit(prompt(3), { maxTokens: 6 })).toThrow(/maxOutputTokens/);
    expect(await engine.submit(prompt(3), { ignoreEos: true }).done).toMatchObject({ finishReason: 'length', outputTokens: 5 });
    expect((await engine.submit(prompt(3), { maxTokens: 2, ignoreEos: true }).done).outputTokens).toBe(2);
    await engine.close();
  });

  it('rejects length limits that are not integers >= 1', async () => {
    for (const bad of [0, -3, 2.5, Number.NaN, Infinity]) {
      await expect(simulated({ maxPromptTokens: bad })).rejects.toThrow(InvalidRequestError);
      await expect(simulated({ maxOutputTokens: bad })).rejects.toThrow(InvalidRequestError);
    }
  });
});

describe('deadlines', () => {
  it('a per-request timeout ends the request with finishReason timeout; stream complete and equal to the result; pages freed', async () => {
    const engine = await simulated({ delayMs: 3 });
    const handle = engine.submit(prompt(8), { maxTokens: 50, ignoreEos: true }, { timeoutMs: 40 });
    const seen = watch(handle);
    const other = engine.submit(prompt(8, 3), { maxTokens: 5, ignoreEos: true });
    const result = await handle.done;
    expect(result.finishReason).toBe('timeout');
    expect(result.outputTokens).toBeGreaterThan(0);
    expect(result.outputTokens).toBeLessThan(50);
    expect(result.metrics.totalMs).toBeGreaterThanOrEqual(39);
    expect(seen.ended()).toBe('complete');
    expect(seen.tokens).toEqual(result.tokens);
    expect((await other.done).finishReason).toBe('length');
    await expectIdleAndClean(engine);
    expect(engine.stats().requests).toMatchObject({ timedOut: 1, finished: 1 });
    await engine.close();
  });

  it('a request still waiting at its deadline times out with no tokens', async () => {
    const engine = await simulated({ delayMs: 2, maxRunning: 1 });
    const busy = engine.submit(prompt(4), { maxTokens: 40, ignoreEos: true });
    const queued = engine.submit(prompt(4, 2), { maxTokens: 5 }, { timeoutMs: 15 });
    const text = firstValueFrom(queued.text$.pipe(toArray()));
    expect(await queued.done).toMatchObject({ finishReason: 'timeout', outputTokens: 0, tokens: [] });
    expect(await text).toEqual([]);
    expect((await busy.done).finishReason).toBe('length');
    await expectIdleAndClean(engine);
    await engine.close();
  });

  it('requestTimeoutMs is the default deadline; a request\'s own timeoutMs overrides it either way', async () => {
    const engine = await simulated({ delayMs: 2, requestTimeoutMs: 20 });
    const byDefault = engine.submit(prompt(4), { maxTokens: 60, ignoreEos: true });
    const longer = engine.submit(prompt(4, 2), { maxTokens: 30, ignoreEos: true }, { timeoutMs: 60_000 });
    const shorter = engine.submit(prompt(4, 3), { maxTokens: 60, ignoreEos: true }, { timeoutMs: 5 });
    expect((await shorter.done).finishReason).toBe('timeout');
    expect((await byDefault.done).finishReason).toBe('timeout');
    expect(await longer.done).toMatchObject({ finishReason: 'length', outputTokens: 30 });
    await expectIdleAndClean(engine);
    expect(engine.stats().requests.timedOut).toBe(2);
    await engine.close();
  });

  it('a deadline beyond what a timer can hold (over 2^31-1 ms), or Infinity, is no deadline at all', async () => {
    const engine = await simulated({ delayMs: 1 });
    for (const timeoutMs of [2 ** 31, 1e12, Infinity]) {
      const result = await engine.submit(prompt(4), { maxTokens: 8, ignoreEos: true }, { timeoutMs }).done;
      expect(result).toMatchObject({ finishReason: 'length', outputTokens: 8 });
    }
    await engine.close();
  });

  it('rejects a timeoutMs or requestTimeoutMs that is not a positive number, at once', async () => {
    const engine = await simulated();
    for (const timeoutMs of [0, -5, Number.NaN, '10' as unknown as number]) {
      expect(() => engine.submit(prompt(4), { maxTokens: 2 }, { timeoutMs })).toThrow(InvalidRequestError);
    }
    expect(engine.stats().requests.submitted).toBe(0);
    await engine.close();
    for (const requestTimeoutMs of [0, -1, Number.NaN]) await expect(simulated({ requestTimeoutMs })).rejects.toThrow(InvalidRequestError);
  });

  it('a timeout on the native executor frees the pages and completes the stream', async () => {
    const engine = await NanoServingEngine.create({ model: 'tiny', kvCachePages: 16, pageSize: 8, maxBatchTokens: 64, threads: 1 });
    const handles = Array.from({ length: 4 }, (_, i) => engine.submit(`deadline ${i}`, { maxTokens: 100 }, { timeoutMs: 5 + i * 5 }));
    const seen = handles.map(watch);
    const results = await Promise.all(handles.map((h) => h.done));
    results.forEach((result, i) => {
      expect(['timeout', 'length']).toContain(result.finishReason);
      expect(seen[i].tokens).toEqual(result.tokens);
      expect(seen[i].ended()).toBe('complete');
    });
    expect(results.some((r) => r.finishReason === 'timeout')).toBe(true);
    await expectIdleAndClean(engine);
    await engine.close();
  });
});
