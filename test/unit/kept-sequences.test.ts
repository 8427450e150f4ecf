/**
 * What the executor keeps per request (page tables behind StepInput's deltas) must equal
 * the engine's own page tables at every step: through prefix-cache hits and the cache's
 * page swaps, preemption and resume, and aborts. Checked on the simulator, step by step.
 */
import { describe, expect, it } from 'vitest';
import { EngineCore } from '../../src/engine/core.js';
import type { RequestSlot } from '../../src/engine/request-slot.js';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';
import { KeptPageTables } from '../../src/executor/kept-pages.js';
import { SimulatedExecutor } from '../../src/executor/simulated.js';
import type { Executor, StepInput, StepOutput } from '../../src/executor/step.js';

/** Resolves each step's deltas and compares them with the engine's page tables before running the step. */
class CheckedExecutor implements Executor {
  readonly info: Executor['info'];
  core!: EngineCore;
  readonly problems: string[] = [];
  numSteps = 0;
  numSentPages = 0;
  numWholePages = 0;
  private readonly tables: KeptPageTables;

  constructor(private readonly inner: SimulatedExecutor) {
    this.info = inner.info;
    this.tables = new KeptPageTables(inner.info);
  }

  step(input: StepInput): Promise<StepOutput> {
    this.numSteps++;
    const tables = this.tables.apply(input);
    tables.forEach((table, s) => {
      const slot = this.core.table.get(input.seqIds![s]) as RequestSlot;
      const want = slot.pages;
      this.numSentPages += input.pageStart[s + 1] - input.pageStart[s];
      this.numWholePages += want.length;
      if (Array.from(table).join() !== want.join()) this.problems.push(`step ${this.numSteps}, request ${slot.id}: kept [${Array.from(table).join()}], engine [${want.join()}]`);
    });
    return this.inner.step(input);
  }

  close(): void {
    this.inner.close();
  }
}

describe('kept sequences: the executor\'s page tables follow the engine\'s', () => {
  it('through prefix-cache hits and page swaps, preemption, resume and aborts', async () => {
    const executor = new CheckedExecutor(new SimulatedExecutor({ vocabSize: 64, numPages: 24, pageSize: 4 }));
    // Chunks of 6 on pages of 4: a chunk often ends inside a page.
    const core = new EngineCore(executor, new ByteTokenizer(64, [0]), { maxBatchTokens: 48, maxRunning: 6, maxChunkSize: 6, chunkedPrefill: true, prefixCache: true, maxWaiting: Infinity });
    executor.core = core;
    let numSwaps = 0;
    const invalidateFrom = core.kv.kept.invalidateFrom.bind(core.kv.kept);
    core.kv.kept.invalidateFrom = (slot, index) => {
      if (slot.isKept && slot.keptPages > index && !slot.isFinal) numSwaps++;
      invalidateFrom(slot, index);
    };
    const prefix = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    const handles = Array.from({ length: 14 }, (_, i) => core.submit([...prefix.slice(0, 5 + (i % 7)), 20 + i, 21, 22], { maxTokens: 10 + (i % 5) * 3, ignoreEos: true }));
    for (const i of [3, 8]) {
      let n = 0;
      handles[i].tokens$.subscribe(() => {
        if (++n === 4) handles[i].abort();
      });
    }
    // Late arrivals whose prompts continue an earlier request's output: their prefill chunks
    // (not page-aligned) complete pages that request published when it finished, so the
    // cache swaps those pages under a running request (the executor must be sent them again).
    const first = await handles[0].done;
    const late = Array.from({ length: 6 }, (_, i) => core.submit([...prefix.slice(0, 5), 20, 21, 22, ...first.tokens.slice(0, 2 + i), ...Array.from({ length: 30 }, (_, j) => (j * 5 + i) % 60 + 1)], { maxTokens: 6, ignoreEos: true }));
    const echo = Array.from({ length: 4 }, (_, i) => core.submit([...prefix.slice(0, 5), 20, 21, 22], { maxTokens: 8 + 4 * i, ignoreEos: true }));
    await Promise.all([...handles, ...late, ...echo].map((h) => h.done));
    await core.whenIdle();
    const stats = core.stats();
    await core.close();
    expect(executor.problems).toEqual([]);
    expect(stats.preemptions).toBeGreaterThan(0);
    expect(stats.cachedTokens).toBeGreaterThan(0);
    expect(numSwaps).toBeGreaterThan(0);
    // Deltas: far fewer page ids sent than whole tables would carry.
    expect(executor.numSentPages).toBeLessThan(executor.numWholePages / 2);
  });
});
