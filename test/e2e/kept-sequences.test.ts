/**
 * The executor keeps each request's page table and penalty counts between steps; the
 * engine sends only what changed. Its state must be rebuilt right wherever a request's
 * pages change hands: preemption and resume, aborts, prefix-cache hits and the cache's
 * page swaps. Outputs with penalties are compared, bitwise, against the same engine on an
 * executor fed whole page tables and whole histories each step (kept here, in JS), and
 * against a roomy run with no preemption and no cache.
 */
import { describe, expect, it } from 'vitest';
import { NanoServingEngine } from '../../src/index.js';
import { KeptPageTables } from '../../src/executor/kept-pages.js';
import { NativeExecutor } from '../../src/executor/native.js';
import type { Executor, StepInput, StepOutput } from '../../src/executor/step.js';
import { resolveModel } from '../../src/models/resolve.js';

/** Turns each kept-sequence step into a stateless one: whole page tables, whole histories. */
class WholeSteps implements Executor {
  readonly info: Executor['info'];
  private readonly pages: KeptPageTables;
  private readonly histories = new Map<number, { tokens: number[]; promptLen: number }>();
  numDeltaSteps = 0;

  constructor(private readonly inner: Executor) {
    this.info = inner.info;
    this.pages = new KeptPageTables(inner.info);
  }

  step(input: StepInput): Promise<StepOutput> {
    const numSeqs = input.seqStart.length - 1;
    if (!input.seqIds) throw new Error('the engine sent a stateless step');
    this.numDeltaSteps++;
    const tables = this.pages.apply(input);
    for (const id of input.releaseSeqs ?? []) this.histories.delete(id);
    const histories: number[][] = [];
    const promptLens: number[] = [];
    for (let s = 0; s < numSeqs; s++) {
      const id = input.seqIds[s];
      if (input.seqIsNew![s]) {
        this.histories.set(id, { tokens: Array.from(input.historyTokens.subarray(input.historyStart[s], input.historyStart[s + 1])), promptLen: input.historyPromptLen[s] });
      }
      const history = this.histories.get(id)!;
      const penalized = input.repetitionPenalty[s] !== 1 || input.presencePenalty[s] !== 0 || input.frequencyPenalty[s] !== 0;
      if (penalized) history.tokens.push(...input.tokens.subarray(input.seqStart[s], input.seqStart[s + 1]));
      histories.push(penalized ? history.tokens.slice() : []);
      promptLens.push(penalized ? Math.min(history.promptLen, history.tokens.length) : 0);
    }
    const offsets = (lens: number[]): Int32Array => {
      const out = new Int32Array(lens.length + 1);
      lens.forEach((len, i) => (out[i + 1] = out[i] + len));
      return out;
    };
    const whole: StepInput = {
      ...input,
      pageTable: Int32Array.from(tables.flatMap((t) => Array.from(t))),
      pageStart: offsets(tables.map((t) => t.length)),
      historyTokens: Int32Array.from(histories.flat()),
      historyStart: offsets(histories.map((h) => h.length)),
      historyPromptLen: Int32Array.from(promptLens),
      seqIds: undefined,
      seqIsNew: undefined,
      pageKeep: undefined,
      releaseSeqs: undefined,
    };
    return this.inner.step(whole);
  }

  close(): void {
    this.inner.close();
  }
}

const PENALTIES = { temperature: 0.8, presencePenalty: 0.6, frequencyPenalty: 0.4, repetitionPenalty: 1.3 };

/** 3 groups of 5 requests sharing a 40-token prefix; every third request is greedy without penalties. */
function prompts(): number[][] {
  const out: number[][] = [];
  for (let g = 0; g < 3; g++) {
    const prefix = Array.from({ length: 40 }, (_, i) => (g * 61 + i * 7 + 1) % 256);
    for (let r = 0; r < 5; r++) out.push([...prefix, ...Array.from({ length: 3 + r }, (_, i) => (r * 29 + i * 11 + g) % 256)]);
  }
  return out;
}

async function serve(shape: { pages: number; prefixCache: boolean; whole: boolean }): Promise<{ tokens: Map<number, number[]>; preemptions: number; cachedTokens: number }> {
  const model = await resolveModel('tiny');
  const native = NativeExecutor.create({ config: model.config, tensors: model.tensors, numPages: shape.pages, pageSize: 8, numThreads: 2, maxBatchTokens: 128, maxSeqs: 8 });
  const executor = shape.whole ? new WholeSteps(native) : native;
  const engine = await NanoServingEngine.create({ executor, prefixCache: shape.prefixCache, kvCachePages: shape.pages, pageSize: 8, maxChunkSize: 24, maxBatchTokens: 128, maxRunning: 8 });
  const all = prompts();
  const handles = all.map((p, i) => engine.submit(p, i % 3 === 2 ? { maxTokens: 12, ignoreEos: true } : { ...PENALTIES, seed: 100 + i, maxTokens: 24 + (i % 4) * 4, ignoreEos: true }));
  // Requests 4 and 9 are aborted at their 5th token: their pages (and kept state) go back mid-run.
  for (const i of [4, 9]) {
    let n = 0;
    handles[i].tokens$.subscribe(() => {
      if (++n === 5) handles[i].abort();
    });
  }
  const results = await Promise.all(handles.map((h) => h.done));
  await engine.whenIdle();
  engine.checkIntegrity();
  const stats = engine.stats();
  expect(stats.pages.free + stats.pages.evictable).toBe(stats.pages.total);
  await engine.close();
  if (executor instanceof WholeSteps) expect(executor.numDeltaSteps).toBeGreaterThan(0);
  const tokens = new Map<number, number[]>();
  results.forEach((r, i) => {
    if (i !== 4 && i !== 9) tokens.set(i, r.tokens);
    else expect(r.finishReason).toBe('abort');
  });
  return { tokens, preemptions: stats.preemptions, cachedTokens: stats.cachedTokens };
}

describe('kept sequences end to end (tiny preset, native executor, penalties)', () => {
  it('same tokens as whole tables and histories, and as a roomy run, across preemption, aborts and prefix-cache hits', async () => {
    const tight = await serve({ pages: 36, prefixCache: true, whole: false });
    const tightWhole = await serve({ pages: 36, prefixCache: true, whole: true });
    const roomy = await serve({ pages: 512, prefixCache: false, whole: false });
    expect(tight.preemptions).toBeGreaterThan(0);
    expect(tight.cachedTokens).toBeGreaterThan(0);
    expect(roomy.preemptions).toBe(0);
    expect(tight.tokens).toEqual(tightWhole.tokens);
    expect(tight.tokens).toEqual(roomy.tokens);
  });
});
