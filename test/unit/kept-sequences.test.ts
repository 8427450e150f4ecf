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
import { ExecutorError } from '../../src/errors.js';

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

  it('a step the executor refuses changes no kept record: nothing is marked kept before the executor took its step', async () => {
    const inner = new SimulatedExecutor({ vocabSize: 64, numPages: 64, pageSize: 4 });
    const tables = new KeptPageTables(inner.info);
    const problems: string[] = [];
    const refuseAt = new Set([3, 9]);
    let numSteps = 0;
    let core!: EngineCore;
    const executor: Executor = {
      info: inner.info,
      step(input: StepInput): Promise<StepOutput> {
        numSteps++;
        // While the step is being handed over, each record must still say what the executor keeps from before it.
        input.seqIds!.forEach((id, s) => {
          const slot = core.table.get(id) as RequestSlot;
          if (slot.isKept !== !input.seqIsNew![s] || (slot.isKept && slot.keptPages !== input.pageKeep![s])) {
            problems.push(`step ${numSteps}, request ${id}: marked kept (${slot.isKept}, ${slot.keptPages} pages) before the executor took the step (new: ${input.seqIsNew![s]}, keep ${input.pageKeep![s]})`);
          }
        });
        if (refuseAt.has(numSteps)) return Promise.reject(new ExecutorError('page id out of the pool (refused on purpose)', 'ERR_NATIVE_PAGE'));
        const whole = tables.apply(input); // as the native side: a refused step leaves its state as it was
        whole.forEach((table, s) => {
          const want = (core.table.get(input.seqIds![s]) as RequestSlot).pages;
          if (Array.from(table).join() !== want.join()) problems.push(`step ${numSteps}: executor keeps [${Array.from(table).join()}], engine [${want.join()}]`);
        });
        return inner.step(input);
      },
      close: () => inner.close(),
    };
    core = new EngineCore(executor, new ByteTokenizer(64, [0]), { maxBatchTokens: 32, maxRunning: 4, maxChunkSize: 8, chunkedPrefill: true, prefixCache: true, maxWaiting: Infinity });
    const submit = (i: number) => core.submit(Array.from({ length: 10 + i }, (_, j) => ((i * 5 + j * 3) % 60) + 1), { maxTokens: 6, ignoreEos: true });
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => submit(i).done));
    const failed = results.filter((r) => r.status === 'rejected');
    expect(failed.length).toBeGreaterThan(0);
    for (const r of failed) expect(String((r as PromiseRejectedResult).reason)).toMatch(/refused on purpose/);
    const late = await Promise.all([20, 21, 22].map((i) => submit(i).done));
    expect(late.every((r) => r.outputTokens === 6)).toBe(true);
    await core.close();
    expect(problems).toEqual([]);
  });
});
