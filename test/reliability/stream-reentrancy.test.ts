/**
 * Subscribers that act from inside their callbacks (abort, unsubscribe, subscribe another)
 * must never make another subscriber miss, repeat or reorder an item. Found by the chaos
 * soak: a second subscriber lost the token on which the first one aborted.
 */
import { describe, expect, it } from 'vitest';
import { EngineCore } from '../../src/engine/core.js';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';
import { SimulatedExecutor } from '../../src/executor/simulated.js';
import { ReplayChannel } from '../../streams/replay.js';

function simulatedCore(): EngineCore {
  const executor = new SimulatedExecutor({ vocabSize: 64, numPages: 32, pageSize: 4 });
  return new EngineCore(executor, new ByteTokenizer(64), { maxBatchTokens: 64, maxRunning: 4, maxChunkSize: 16, chunkedPrefill: true, prefixCache: true, maxWaiting: 16 });
}

describe('token streams under re-entrant subscribers', () => {
  it('a subscriber that aborts on a token does not take that token from the others', async () => {
    const core = simulatedCore();
    const handle = core.submit([1, 2, 3, 4, 5], { maxTokens: 20, ignoreEos: true });
    const first: number[] = [];
    const second: number[] = [];
    handle.tokens$.subscribe((token) => {
      first.push(token);
      if (first.length === 3) handle.abort();
    });
    handle.tokens$.subscribe((token) => second.push(token));
    const result = await handle.done;
    expect(result.finishReason).toBe('abort');
    expect(result.tokens).toHaveLength(3);
    expect(first).toEqual(result.tokens);
    expect(second).toEqual(result.tokens);
    await core.close();
  });

  it('a subscriber that joins from inside another one\'s callback gets each token once, then the ending', async () => {
    const core = simulatedCore();
    const handle = core.submit([9, 8, 7], { maxTokens: 8, ignoreEos: true });
    const first: number[] = [];
    const late: number[] = [];
    let lateEnded = false;
    handle.tokens$.subscribe((token) => {
      first.push(token);
      if (first.length === 2) handle.tokens$.subscribe({ next: (t) => late.push(t), complete: () => (lateEnded = true) });
      if (first.length === 4) handle.abort();
    });
    const result = await handle.done;
    expect(late).toEqual(result.tokens);
    expect(lateEnded).toBe(true);
    await core.close();
  });

  it('ReplayChannel: items pushed and the ending given from inside a callback reach every subscriber in order', () => {
    const buffer: string[] = [];
    const channel = new ReplayChannel(() => buffer.length, (i) => buffer[i], () => undefined);
    const append = (item: string): void => {
      buffer.push(item);
      channel.push(item);
    };
    const a: string[] = [];
    const b: string[] = [];
    let bEnded = 0;
    channel.observable().subscribe((item) => {
      a.push(item);
      if (item === 'p1') {
        append('p2'); // re-entrant push, then the ending
        append('p3');
        channel.complete();
      }
    });
    channel.observable().subscribe({ next: (item) => b.push(item), complete: () => bEnded++ });
    append('p1');
    expect(a).toEqual(['p1', 'p2', 'p3']);
    expect(b).toEqual(['p1', 'p2', 'p3']);
    expect(bEnded).toBe(1);
    const after: string[] = [];
    let afterEnded = false;
    channel.observable().subscribe({ next: (item) => after.push(item), complete: () => (afterEnded = true) });
    expect(after).toEqual(['p1', 'p2', 'p3']);
    expect(afterEnded).toBe(true);
  });
});
