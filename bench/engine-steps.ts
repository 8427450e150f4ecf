/**
 * Where the engine's 32-concurrent steps go beyond the raw step (anchor.ts's workload: 32
 * requests, 32-token prompts, 128 out, all at once), measured in one process, alternating:
 *   engine   the workload through the engine; each step timed from its call to its promise's
 *            resolution, and the gap to the next call (the JS between steps)
 *   replay   the very inputs the engine sent (copied), stepped back to back on a fresh executor
 *            of the same options: the same step contents with no engine around them
 *   gapped   the replay again with a busy JS wait of the engine's median gap before each step
 *   raw      anchor's raw case: 32 decode rows at position 96, fresh pages (raw-steps.ts)
 *   node dist/bench/engine-steps.js [--model medium] [--rounds 3] [--kernel avx2] [--engine-only]
 * (--engine-only: the engine runs alone, for a profiler attached to the process.)
 * Prints medians per kind of step; run it under the bench lock.
 */
import { loadavg } from 'node:os';
import { NativeExecutor } from '../src/executor/native.js';
import type { StepInput } from '../src/executor/step.js';
import type { StepProfileFigures } from '../src/native/binding.js';
import { isPresetName, type PresetName } from '../src/models/presets.js';
import { runOurs, type ModelUnderTest } from './ours.js';
import { profiledStepTimes, rawStep, type RawRun } from './raw-steps.js';
import { knobsFor, loadModel } from './suites.js';
import { randomWorkload } from './workloads.js';

const PARALLEL = 32, PROMPT = 32, GEN = 128;

interface StepTime { tokens: number; seqs: number; ms: number; gapMs: number }

/** The executor's step profile summed over calls (each call returns what gathered since the last, and resets). */
class ProfileSum {
  sum: StepProfileFigures | undefined;
  add(p: StepProfileFigures): void {
    if (!this.sum) this.sum = { ...p };
    else for (const k of Object.keys(p) as Array<keyof StepProfileFigures>) this.sum[k] += p[k];
  }
  /** Per step, ms: where thread 0's time went, its waits for the other thread, and the runner's gap. */
  line(): string {
    const p = this.sum;
    if (!p || p.numSteps === 0) return 'no profile';
    const per = (ms: number): string => (ms / p.numSteps).toFixed(2);
    const named = p.gemmMs + p.attentionMs + p.rowOpsMs + p.lmHeadMs + p.samplingMs;
    return `per step: whole ${per(p.stepMs)} ms = GEMMs ${per(p.gemmMs)} + attention ${per(p.attentionMs)} + row ops ${per(p.rowOpsMs)} + LM head ${per(p.lmHeadMs)} + sampling ${per(p.samplingMs)} + rest ${per(p.stepMs - named)}; thread 0 waiting for the pool ${per(p.poolWaitMs)} (in the regions); runner gap ${p.numGaps ? (p.gapMs / p.numGaps).toFixed(2) : '-'} ms (${p.numSteps} steps)`;
  }
}

/** The process's CPU time (user + system, all threads) in ms since `from`. */
const cpuMs = (from?: NodeJS.CpuUsage): number => {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1000;
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[s.length >> 1];
};

/** A deep copy of a step's input (the engine reuses its buffers). */
function copyInput(input: StepInput): StepInput {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) out[key] = ArrayBuffer.isView(value) ? (value as Int32Array).slice() : value;
  return out as unknown as StepInput;
}

function knobs(model: ModelUnderTest) {
  const reqs = randomWorkload({ numRequests: PARALLEL, inputLen: [PROMPT, PROMPT], outputLen: [GEN, GEN], rate: Infinity, vocabSize: model.config.vocabSize, seed: 4242 });
  return { reqs, knobs: knobsFor(reqs, PARALLEL) };
}

async function engineRun(model: ModelUnderTest): Promise<{ steps: StepTime[]; inputs: StepInput[]; wallMs: number; decodeCpuMs: number; profile: ProfileSum }> {
  const profile = new ProfileSum();
  const { reqs, knobs: k } = knobs(model);
  const steps: StepTime[] = [];
  const inputs: StepInput[] = [];
  let lastEnd = 0;
  let cpuFrom: NodeJS.CpuUsage | undefined;
  let decodeCpuMs = 0, numDecodes = 0;
  const t0 = performance.now();
  await runOurs(model, k, reqs, PARALLEL, (input, ms, native) => {
    const end = performance.now();
    const figures = native.stepProfile(true);  // between steps: on from the prompt step's end
    if (cpuFrom) profile.add(figures);
    if (cpuFrom) {
      decodeCpuMs = cpuMs(cpuFrom);
      numDecodes++;
    } else cpuFrom = process.cpuUsage();  // the prompt step's end: the decode phase begins
    const start = end - ms;
    if (steps.length > 0) steps[steps.length - 1].gapMs = start - lastEnd;
    lastEnd = end;
    steps.push({ tokens: input.tokens.length, seqs: input.seqStart.length - 1, ms, gapMs: 0 });
    inputs.push(copyInput(input));
  });
  return { steps, inputs, wallMs: performance.now() - t0, decodeCpuMs: decodeCpuMs / Math.max(1, numDecodes), profile };
}

function executorFor(model: ModelUnderTest): NativeExecutor {
  const { knobs: k } = knobs(model);
  return NativeExecutor.create({ config: model.config, tensors: model.tensors, numPages: k.kvCachePages, pageSize: k.pageSize, numThreads: model.threads, maxBatchTokens: k.maxBatchTokens, maxSeqs: k.maxRunning });
}

/** The engine's inputs stepped in order (the warm-up's sequence ids are not among them, so every id starts fresh as in the engine). */
async function replay(model: ModelUnderTest, inputs: StepInput[], gapMs: number): Promise<{ times: number[]; decodeCpuMs: number; profile: ProfileSum }> {
  const ex = executorFor(model);
  const profile = new ProfileSum();
  try {
    const times: number[] = [];
    let cpuFrom: NodeJS.CpuUsage | undefined;
    for (const input of inputs) {
      if (times.length === 1) {
        cpuFrom = process.cpuUsage();
        ex.stepProfile(true);
      }
      if (gapMs > 0) for (const until = performance.now() + gapMs; performance.now() < until; );
      const t0 = performance.now();
      await ex.step(input);
      times.push(performance.now() - t0);
    }
    profile.add(ex.stepProfile(false));
    return { times, decodeCpuMs: cpuFrom ? cpuMs(cpuFrom) / (times.length - 1) : NaN, profile };
  } finally {
    ex.close();
  }
}

async function rawDecode(model: ModelUnderTest, steps: number): Promise<{ times: number[]; profile: ProfileSum }> {
  const profile = new ProfileSum();
  const ex = executorFor(model);
  try {
    const pagesPerSeq = Math.ceil((96 + 1) / 16);
    const runs: RawRun[] = Array.from({ length: PARALLEL }, (_, s) => ({ start: 96, length: 1, pages: Array.from({ length: pagesPerSeq }, (_, i) => s * pagesPerSeq + i) }));
    const input = rawStep(runs);
    await ex.step(input);
    const timed = await profiledStepTimes(ex, input, steps);
    profile.add(timed.profile);
    return { times: timed.times, profile };
  } finally {
    ex.close();
  }
}

function summary(label: string, decode: number[], prompt: number[], extra = ''): string {
  const total = decode.reduce((a, b) => a + b, 0) + prompt.reduce((a, b) => a + b, 0);
  return `${label.padEnd(8)} prompt step(s) ${prompt.map((x) => x.toFixed(1)).join('+')} ms; decode steps: ${decode.length}, median ${median(decode).toFixed(1)} ms, mean ${(decode.reduce((a, b) => a + b, 0) / Math.max(1, decode.length)).toFixed(1)}, min ${Math.min(...decode).toFixed(1)}; steps total ${total.toFixed(0)} ms${extra}`;
}

async function main(): Promise<void> {
  const arg = (name: string): string | undefined => {
    const at = process.argv.indexOf(`--${name}`);
    return at >= 0 ? process.argv[at + 1] : undefined;
  };
  const name = arg('model') ?? 'medium';
  if (!isPresetName(name)) throw new Error(`unknown model ${name}`);
  const kernel = arg('kernel');
  if (kernel && kernel !== 'auto') process.env.NANO_SERVING_KERNEL = kernel;
  const rounds = Number(arg('rounds') ?? 3);
  const model = loadModel(name as PresetName, 2, 'f32');
  console.log(`${name}, kernel ${kernel ?? 'auto'}, ${new Date().toISOString()}, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  for (let r = 0; r < rounds; r++) {
    const e = await engineRun(model);
    const isPrompt = (s: StepTime): boolean => s.tokens > s.seqs;
    const decode = e.steps.filter((s) => !isPrompt(s));
    const gaps = e.steps.slice(0, -1).map((s) => s.gapMs);
    const shapes = e.steps.filter(isPrompt).map((s) => `${s.tokens} tok/${s.seqs} seq`).join(', ');
    console.log(summary('engine', decode.map((s) => s.ms), e.steps.filter(isPrompt).map((s) => s.ms), `; gaps median ${median(gaps).toFixed(2)} ms, sum ${gaps.reduce((a, b) => a + b, 0).toFixed(0)} ms; wall ${e.wallMs.toFixed(0)} ms; prompt steps: ${shapes}; ${e.steps.length} steps; CPU per decode step ${e.decodeCpuMs.toFixed(1)} ms (all threads)`));
    console.log(`         decode ${e.profile.line()}`);
    if (process.argv.includes('--engine-only')) continue;
    const split = (times: number[]): [number[], number[]] => [times.filter((_, i) => !isPrompt(e.steps[i])), times.filter((_, i) => isPrompt(e.steps[i]))];
    const r0 = await replay(model, e.inputs, 0);
    const rep = split(r0.times);
    console.log(summary('replay', ...rep, `; CPU per decode step ${r0.decodeCpuMs.toFixed(1)} ms`));
    console.log(`         decode ${r0.profile.line()}`);
    const g0 = await replay(model, e.inputs, median(gaps));
    const gapped = split(g0.times);
    console.log(summary('gapped', ...gapped, ` (busy JS ${median(gaps).toFixed(2)} ms before each)`));
    console.log(`         decode ${g0.profile.line()}`);
    const raw = await rawDecode(model, 30);
    console.log(summary('raw@96', raw.times, []));
    console.log(`         ${raw.profile.line()}`);
  }
}

await main();
