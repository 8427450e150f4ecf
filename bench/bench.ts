/**
 * One whole bench run as a function (the CLI and the smoke test call it): the models'
 * workloads side by side with llama.cpp, the baselines, interference, the tiny demo.
 */
import { execSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { PresetName } from '../src/models/presets.js';
import { writeGguf } from '../src/models/gguf.js';
import type { InterferenceResult } from './interference.js';
import type { LongContextProfile } from './step-profile.js';
import { disposeLlamaCpp, loadLlamaCpp, type LlamaCppRuntime } from './llama-cpp.js';
import { SCALES } from './scales.js';
import { benchDemo, benchInterference, type VariantFilter, benchModel, loadModel, type DemoResult, type ModelResult, type SuiteOptions } from './suites.js';
import { checkTargets, type TargetCheck } from './targets.js';

export interface BenchOptions {
  quick: boolean;
  models: PresetName[];
  threads: number;
  runs: number;
  weightDtype: 'f32' | 'bf16';
  llamaCpp: boolean;
  demo: boolean;
  interference: boolean;
  /** Only these interference variants: labels containing one of `parts`, or equal to one of `exact` (all when absent). */
  interferenceVariants?: VariantFilter;
  /** Discarded runs of each interference variant before the measured ones (benchInterference). */
  interferenceWarmUps?: number;
  log: (line: string) => void;
}

export interface BenchResult {
  meta: { date: string; command: string; quick: boolean; runs: number; threads: number; weightDtype: string; machine: Record<string, string | number>; gitCommit: string; loadAvgBefore: number[]; loadAvgAfter: number[]; llamaCppNote?: string; /** Free-text notes added after the run (e.g. what else ran on the machine). */ notes?: string[] };
  models: ModelResult[];
  interference: InterferenceResult[];
  /** Step costs at the long prompt's context (the interference's cause). */
  longContext?: LongContextProfile;
  demo?: DemoResult;
  targets: TargetCheck[];
}

function gitCommit(): string {
  try {
    return execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return 'unknown';
  }
}

/** Exports the model as GGUF (f32, same weights) and loads it in llama.cpp; undefined with a note when it cannot. */
async function llamaFor(name: PresetName, o: BenchOptions): Promise<{ runtime?: LlamaCppRuntime; note?: string }> {
  const model = loadModel(name, o.threads, o.weightDtype);
  if (model.config.family !== 'llama') return { note: `${name} is a ${model.config.family} model; the llama.cpp comparison needs a llama-family preset (small, medium)` };
  const dir = join(tmpdir(), 'nano-serving-bench');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}-f32.gguf`);
  writeGguf(path, model.config, model.tensors);
  try {
    return { runtime: await loadLlamaCpp(path) };
  } catch (error) {
    return { note: `node-llama-cpp failed to load: ${String(error)}` };
  }
}

export async function runBench(o: BenchOptions, command = ''): Promise<BenchResult> {
  const loadAvgBefore = loadavg();
  const commitAtStart = gitCommit();
  const suite: SuiteOptions = { runs: o.runs, threads: o.threads, weightDtype: o.weightDtype, log: o.log };
  const models: ModelResult[] = [];
  const notes: string[] = [];
  for (const name of o.models) {
    const { runtime, note } = o.llamaCpp ? await llamaFor(name, o) : { note: 'llama.cpp comparison skipped (--no-llama)' };
    if (note) {
      notes.push(note);
      o.log(note);
    }
    try {
      models.push(await benchModel(name, SCALES[o.quick ? 'quick' : name === 'medium' ? 'medium' : 'small'], runtime, suite));
    } finally {
      if (runtime) await disposeLlamaCpp(runtime);
    }
  }
  const interference = o.interference ? await benchInterference(o.quick, suite, o.interferenceVariants, o.interferenceWarmUps) : undefined;
  const demo = o.demo ? await benchDemo(o.quick, suite) : undefined;
  const cpu = cpus()[0]?.model ?? 'unknown';
  return {
    meta: {
      date: new Date().toISOString(),
      command,
      quick: o.quick,
      runs: o.runs,
      threads: o.threads,
      weightDtype: o.weightDtype,
      machine: { cpu, cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}` },
      gitCommit: commitAtStart,
      loadAvgBefore,
      loadAvgAfter: loadavg(),
      llamaCppNote: notes.length ? notes.join('; ') : undefined,
    },
    models,
    interference: interference?.variants ?? [],
    longContext: interference?.longContext,
    demo,
    targets: checkTargets(models, demo, interference?.variants ?? []),
  };
}
