/** Raw executor steps built by hand (runs of tokens at given positions, pages given), and their timing. */
import type { NativeExecutor } from '../src/executor/native.js';
import type { Executor, StepInput } from '../src/executor/step.js';
import type { StepProfileFigures } from '../src/native/binding.js';

export interface RawRun {
  start: number;
  length: number;
  pages: number[];
  /** The run samples a token (decodes do; a prefill chunk does only at its prompt's end). */
  isSampled?: boolean;
}

/** A greedy step of these runs (token ids are arbitrary but in range). */
export function rawStep(runs: readonly RawRun[]): StepInput {
  const n = runs.reduce((a, s) => a + s.length, 0);
  const b = runs.length;
  const offsets = (lengths: number[]): Int32Array => Int32Array.from([0, ...lengths.map((_, i) => lengths.slice(0, i + 1).reduce((x, y) => x + y, 0))]);
  return {
    tokens: Int32Array.from({ length: n }, (_, i) => (i * 7919) % 250),
    positions: Int32Array.from(runs.flatMap((s) => Array.from({ length: s.length }, (_, i) => s.start + i))),
    seqStart: offsets(runs.map((s) => s.length)),
    pageTable: Int32Array.from(runs.flatMap((s) => s.pages)),
    pageStart: offsets(runs.map((s) => s.pages.length)),
    isSampled: Uint8Array.from(runs, (s) => (s.isSampled === false ? 0 : 1)),
    temperature: new Float32Array(b), topK: new Int32Array(b), topP: new Float32Array(b).fill(1), minP: new Float32Array(b),
    seed: new Float64Array(b), presencePenalty: new Float32Array(b), frequencyPenalty: new Float32Array(b),
    repetitionPenalty: new Float32Array(b).fill(1), historyTokens: new Int32Array(0), historyStart: new Int32Array(b + 1),
    historyPromptLen: new Int32Array(b), numTopLogprobs: new Int32Array(b), returnLogits: false,
  };
}

/** Milliseconds per step: the fastest of 3 windows of >= `steps` steps (the machine may be shared). */
export async function timeStepMs(ex: Executor, input: StepInput, steps: number): Promise<number> {
  await ex.step(input);
  let best = Infinity;
  for (let w = 0; w < 3; w++) {
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) await ex.step(input);
    best = Math.min(best, (performance.now() - t0) / steps);
  }
  return best;
}

/** Each of `steps` steps of `input` timed (ms, in order), with the executor's step profile summed over them. */
export async function profiledStepTimes(ex: NativeExecutor, input: StepInput, steps: number): Promise<{ times: number[]; profile: StepProfileFigures }> {
  ex.stepProfile(true);
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await ex.step(input);
    times.push(performance.now() - t0);
  }
  return { times, profile: ex.stepProfile(false) };
}
