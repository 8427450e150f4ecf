/**
 * Kept sequences (StepInput.seqIds): the executor keeps page tables and penalty counts
 * between steps. Bad deltas are refused by name and change nothing; a kept sequence samples
 * bitwise as the same step sent whole (stateless) does, penalties included.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ExecutorError } from '../../src/errors.js';
import { NativeExecutor } from '../../src/executor/native.js';
import type { StepInput } from '../../src/executor/step.js';
import type { ModelConfig } from '../../src/models/config.js';
import { syntheticTensors } from '../../src/models/synthetic.js';

const CONFIG: ModelConfig = {
  family: 'llama', vocabSize: 300, hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, headDim: 16,
  intermediateSize: 64, contextLength: 64, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: false, qkvBias: false,
};
const TENSORS = syntheticTensors(CONFIG, 11);
const PAGE_SIZE = 4;
const NUM_PAGES = 8;
const executors: NativeExecutor[] = [];

function create(): NativeExecutor {
  const executor = NativeExecutor.create({ config: CONFIG, tensors: TENSORS, numPages: NUM_PAGES, pageSize: PAGE_SIZE, numThreads: 2, maxBatchTokens: 32, maxSeqs: 4 });
  executors.push(executor);
  return executor;
}
afterAll(() => executors.forEach((e) => e.close()));

interface Run {
  id: number;
  tokens: number[];
  start: number;
  pages: number[];       // delta: the pages after pageKeep; stateless: the whole table
  isNew?: boolean;
  pageKeep?: number;
  history?: number[];    // delta: a new sequence's tokens before the run; stateless: everything through the run
  promptLen?: number;
}

const PENALIZED = { temperature: 0.9, seed: 77, presence: 0.4, frequency: 0.3, repetition: 1.4 };

/** One step of the given runs (all sampled, penalized, logits returned); `stateless` leaves seqIds out. */
function stepOf(runs: Run[], options: { stateless?: boolean; release?: number[]; penalties?: boolean } = {}): StepInput {
  const n = runs.length;
  const offsets = (lens: number[]): Int32Array => Int32Array.from([0, ...lens.map((_, i) => lens.slice(0, i + 1).reduce((a, b) => a + b, 0))]);
  const penalties = options.penalties ?? true;
  const input: StepInput = {
    tokens: Int32Array.from(runs.flatMap((r) => r.tokens)),
    positions: Int32Array.from(runs.flatMap((r) => r.tokens.map((_, i) => r.start + i))),
    seqStart: offsets(runs.map((r) => r.tokens.length)),
    pageTable: Int32Array.from(runs.flatMap((r) => r.pages)),
    pageStart: offsets(runs.map((r) => r.pages.length)),
    isSampled: new Uint8Array(n).fill(1),
    temperature: new Float32Array(n).fill(PENALIZED.temperature),
    topK: new Int32Array(n),
    topP: new Float32Array(n).fill(1),
    minP: new Float32Array(n),
    seed: new Float64Array(n).fill(PENALIZED.seed),
    presencePenalty: new Float32Array(n).fill(penalties ? PENALIZED.presence : 0),
    frequencyPenalty: new Float32Array(n).fill(penalties ? PENALIZED.frequency : 0),
    repetitionPenalty: new Float32Array(n).fill(penalties ? PENALIZED.repetition : 1),
    historyTokens: Int32Array.from(runs.flatMap((r) => r.history ?? [])),
    historyStart: offsets(runs.map((r) => (r.history ?? []).length)),
    historyPromptLen: Int32Array.from(runs.map((r) => r.promptLen ?? 0)),
    numTopLogprobs: new Int32Array(n),
    returnLogits: true,
  };
  if (options.stateless) return input;
  return {
    ...input,
    seqIds: Int32Array.from(runs.map((r) => r.id)),
    seqIsNew: Uint8Array.from(runs.map((r) => (r.isNew ? 1 : 0))),
    pageKeep: Int32Array.from(runs.map((r) => r.pageKeep ?? 0)),
    releaseSeqs: Int32Array.from(options.release ?? []),
  };
}

async function refusal(executor: NativeExecutor, input: StepInput): Promise<{ code: string | undefined; message: string }> {
  try {
    await executor.step(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ExecutorError);
    return { code: (error as ExecutorError).nativeCode, message: (error as Error).message };
  }
  return { code: 'no error', message: '' };
}

const PROMPT = [11, 12, 13, 11, 14];

describe('kept sequences: bad deltas are refused by name and change nothing', () => {
  it('unknown or released id, repeated id, page out of the pool, a gap, pageKeep past the kept pages, history or penalties that do not match', async () => {
    const executor = create();
    const first = await executor.step(stepOf([{ id: 7, tokens: PROMPT, start: 0, pages: [0, 1], isNew: true, promptLen: 5 }]));
    const next = first.tokens[0];
    const cont: Run = { id: 7, tokens: [next], start: 5, pages: [], pageKeep: 2 };
    const cases: Array<[string, StepInput, string, RegExp]> = [
      ['unknown id', stepOf([{ ...cont, id: 8 }]), 'ERR_NATIVE_SEQ', /sequence id 8 is not kept/],
      ['released id', stepOf([cont], { release: [7] }), 'ERR_NATIVE_SEQ', /sequence id 7 is not kept/],
      ['id twice', stepOf([cont, { ...cont, tokens: [next] }]), 'ERR_NATIVE_SEQ', /appears twice/],
      ['page out of the pool', stepOf([{ ...cont, pages: [NUM_PAGES] }]), 'ERR_NATIVE_PAGE', /page id 8 outside \[0, 8\).*sequence id 7/],
      ['run does not continue', stepOf([{ ...cont, start: 6 }]), 'ERR_NATIVE_POSITION', /starts at position 6, its kept state ends at 5/],
      ['pageKeep past the kept pages', stepOf([{ ...cont, pageKeep: 3 }]), 'ERR_NATIVE_SHAPE', /pageKeep of sequence id 7 = 3/],
      ['pages do not cover the run', stepOf([{ ...cont, pageKeep: 1 }]), 'ERR_NATIVE_POSITION', /does not cover position 5/],
      ['history on a kept sequence', stepOf([{ ...cont, history: [1] }]), 'ERR_NATIVE_SHAPE', /only a new sequence sends one/],
      ['new sequence, history short of its start', stepOf([{ id: 9, tokens: [3], start: 2, pages: [4], isNew: true, history: [1] }]), 'ERR_NATIVE_SHAPE', /new sequence id 9 must be its 2 tokens/],
    ];
    for (const [name, input, code, message] of cases) {
      const got = await refusal(executor, input);
      expect({ name, code: got.code }).toEqual({ name, code });
      expect(got.message).toMatch(message);
    }
    // Penalties switched on for a sequence that started without them.
    await executor.step(stepOf([{ id: 3, tokens: [5, 6], start: 0, pages: [5], isNew: true, promptLen: 2 }], { penalties: false }));
    expect((await refusal(executor, stepOf([{ id: 3, tokens: [7], start: 2, pages: [], pageKeep: 1 }]))).code).toBe('ERR_NATIVE_PARAM');

    // Nothing above changed sequence 7: its continuation samples as the same step sent whole.
    const kept = await executor.step(stepOf([cont]));
    const whole = await create().step(stepOf([{ id: 7, tokens: [...PROMPT, next], start: 0, pages: [0, 1], history: [...PROMPT, next], promptLen: 5 }], { stateless: true }));
    expect(Array.from(kept.tokens)).toEqual([whole.tokens[0]]);
    expect(kept.logits!).toEqual(whole.logits!.subarray(5 * 0, CONFIG.vocabSize));
  });

  it('refuses more kept sequences than the pool has pages, until some are released', async () => {
    const executor = create();
    for (let id = 0; id < NUM_PAGES; id++) await executor.step(stepOf([{ id, tokens: [1], start: 0, pages: [id], isNew: true, promptLen: 1 }], { penalties: false }));
    const ninth = stepOf([{ id: 100, tokens: [1], start: 0, pages: [0], isNew: true, promptLen: 1 }], { penalties: false });
    const got = await refusal(executor, ninth);
    expect(got.code).toBe('ERR_NATIVE_SEQ');
    expect(got.message).toMatch(/9 kept sequences exceed the pool's 8 pages/);
    await executor.step({ ...ninth, releaseSeqs: Int32Array.from([0, 1]) });
    // A released id may be released again (nothing to do), and started afresh.
    await executor.step(stepOf([{ id: 0, tokens: [2], start: 0, pages: [0], isNew: true, promptLen: 1 }], { penalties: false, release: [0, 1] }));
  });
});

describe('kept sequences sample bitwise as whole steps do', () => {
  it('chunked prefill, decode with penalties, a resent page table, two sequences interleaved', async () => {
    const kept = create();
    const stateless = create();
    // Sequence a: prompt in chunks of 3 and 2, then decode. Sequence b joins at a cached position 4
    // (its first page is shared with a: same tokens), with its first 4 tokens as history.
    const seqs = {
      a: { id: 1, tokens: [...PROMPT], promptLen: 5, pages: [2, 3, 6], fed: 0, isNew: true, keep: 0 },
      b: { id: 2, tokens: [11, 12, 13, 11, 20, 21], promptLen: 6, pages: [2, 7, 5], fed: 4, isNew: true, keep: 0 },
    };
    const plan: Array<Array<['a' | 'b', number]>> = [[['a', 3]], [['a', 2]], [['a', 1], ['b', 2]], [['b', 1], ['a', 1]], [['a', 1], ['b', 1]], [['a', 1]], [['b', 1], ['a', 1]]];
    for (const [stepIndex, entries] of plan.entries()) {
      const deltaRuns: Run[] = [];
      const wholeRuns: Run[] = [];
      for (const [name, length] of entries) {
        const s = seqs[name];
        const start = s.fed;
        const runTokens = s.tokens.slice(start, start + length);
        const numPages = Math.ceil((start + length) / PAGE_SIZE);
        const resend = stepIndex === 4 && name === 'a'; // pageKeep 0: the whole table again
        const keep = s.isNew || resend ? 0 : s.keep;
        deltaRuns.push({ id: s.id, tokens: runTokens, start, pages: s.pages.slice(keep, numPages), isNew: s.isNew, pageKeep: keep, history: s.isNew ? s.tokens.slice(0, start) : undefined, promptLen: s.promptLen });
        wholeRuns.push({ id: s.id, tokens: runTokens, start, pages: s.pages.slice(0, numPages), history: s.tokens.slice(0, start + length), promptLen: Math.min(s.promptLen, start + length) });
        s.isNew = false;
        s.keep = numPages;
        s.fed = start + length;
      }
      const [outKept, outWhole] = await Promise.all([kept.step(stepOf(deltaRuns)), stateless.step(stepOf(wholeRuns, { stateless: true }))]);
      expect(Array.from(outKept.tokens)).toEqual(Array.from(outWhole.tokens));
      expect(outKept.logits).toEqual(outWhole.logits);
      entries.forEach(([name], row) => {
        const s = seqs[name];
        if (s.fed === s.tokens.length) s.tokens.push(outKept.tokens[row]);
      });
    }
    expect(seqs.a.tokens.length).toBeGreaterThan(PROMPT.length + 3);
  });

  it('a continuing sequence keeps its state beside an id released and restarted in the same step and new ids joining', async () => {
    const kept = create();
    const stateless = create();
    // a decodes throughout (penalties on). b runs, then is released and restarted as a new sequence
    // under the same id in one step; c and d join as new sequences (the executor's table grows).
    const a = { id: 5, tokens: [11, 12, 13], fed: 0, pages: [0, 1, 2], keep: 0 };
    const bTokens = [40, 41];
    const step = async (deltaRuns: Run[], wholeRuns: Run[], release: number[] = []): Promise<Int32Array> => {
      const [outKept, outWhole] = await Promise.all([kept.step(stepOf(deltaRuns, { release })), stateless.step(stepOf(wholeRuns, { stateless: true }))]);
      expect(Array.from(outKept.tokens)).toEqual(Array.from(outWhole.tokens));
      expect(outKept.logits).toEqual(outWhole.logits);
      return outKept.tokens;
    };
    const aRuns = (): [Run, Run] => {
      const start = a.fed;
      const length = start === 0 ? a.tokens.length : 1;
      const numPages = Math.ceil((start + length) / PAGE_SIZE);
      const runTokens = a.tokens.slice(start, start + length);
      const delta: Run = { id: a.id, tokens: runTokens, start, pages: a.pages.slice(a.keep, numPages), isNew: start === 0, pageKeep: start === 0 ? 0 : a.keep, history: start === 0 ? [] : undefined, promptLen: 3 };
      const whole: Run = { id: a.id, tokens: runTokens, start, pages: a.pages.slice(0, numPages), history: a.tokens.slice(0, start + length), promptLen: 3 };
      a.keep = numPages;
      a.fed = start + length;
      return [delta, whole];
    };
    const accept = (token: number): void => void a.tokens.push(token);
    const fresh = (id: number, tokens: number[], page: number): [Run, Run] => [
      { id, tokens, start: 0, pages: [page], isNew: true, history: [], promptLen: tokens.length },
      { id, tokens, start: 0, pages: [page], history: tokens, promptLen: tokens.length },
    ];
    let [da, wa] = aRuns();
    let [db, wb] = fresh(6, bTokens, 3);
    accept((await step([da, db], [wa, wb]))[0]);
    [da, wa] = aRuns();
    [db, wb] = fresh(6, [50, 51, 52], 4); // id 6 again: released and new in this step
    const [dc, wc] = fresh(7, [60], 5);
    accept((await step([db, da, dc], [wb, wa, wc], [6]))[1]);
    [da, wa] = aRuns();
    const [dd, wd] = fresh(8, [70, 71], 6);
    accept((await step([dd, da], [wd, wa], [6, 7]))[1]);
    for (let k = 0; k < 3; k++) {
      [da, wa] = aRuns();
      accept((await step([da], [wa], []))[0]);
    }
    expect(a.tokens.length).toBe(9);
  });
});
