/**
 * llama.cpp's own C++ tools (llama-bench, llama-batched-bench, llama-quantize), built once
 * from the llama.cpp source bundled in node-llama-cpp (llama/gitRelease.bundle) with
 * -DGGML_NATIVE=ON into the gitignored bench/.cache/llama.cpp, or taken from an existing
 * CMake build folder named by NANO_LLAMA_CPP_BUILD (its bin/ holds the three tools). The tools
 * run with their own bin/ first on the library path; `withCpuLibrary` puts another build's bin/
 * ahead of it, so the same tools run that build's libggml-cpu (e.g. one compiled for AVX2 only,
 * bench/llama-cpu.ts).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = join(ROOT, 'bench', '.cache', 'llama.cpp');
const BUNDLE = join(ROOT, 'node_modules', 'node-llama-cpp', 'llama', 'gitRelease.bundle');
const TOOLS = ['llama-bench', 'llama-batched-bench', 'llama-quantize'] as const;

export interface LlamaCore {
  /** The CMake build folder. */
  build: string;
  /** The CMake build folder whose libggml-cpu the tools run with (`build` unless replaced). */
  cpuBuild: string;
  tool(name: (typeof TOOLS)[number]): string;
  /** The environment the tools run in: the build's bin/ ahead of their linked library path. */
  env: NodeJS.ProcessEnv;
}

function coreAt(build: string): LlamaCore | undefined {
  const bin = join(build, 'bin');
  const tool = (name: string): string => join(bin, name);
  const libraryPath = [bin, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return TOOLS.every((t) => existsSync(tool(t))) ? { build, cpuBuild: build, tool, env: { ...process.env, LD_LIBRARY_PATH: libraryPath } } : undefined;
}

/** The same tools running the libggml-cpu of another build of the same source (its bin/ first on the library path). */
export function withCpuLibrary(core: LlamaCore, cpuBuild: string): LlamaCore {
  const bin = join(cpuBuild, 'bin');
  if (!existsSync(join(bin, 'libggml-cpu.so'))) throw new Error(`no ${join(bin, 'libggml-cpu.so')}`);
  return { ...core, cpuBuild, env: { ...core.env, LD_LIBRARY_PATH: [bin, core.env.LD_LIBRARY_PATH].filter(Boolean).join(':') } };
}

/** The libggml-cpu the dynamic loader picks for the tools in their environment (from ldd). */
export function loadedCpuLibrary(core: LlamaCore): string {
  const out = execFileSync('ldd', [core.tool('llama-bench')], { encoding: 'utf8', env: core.env });
  const line = out.split('\n').find((l) => l.includes('libggml-cpu.so'));
  return line?.split('=>')[1]?.trim().split(' ')[0] ?? 'unknown (ldd names no libggml-cpu)';
}

/** The tools, or a note saying why there are none and how to get them. */
export function findLlamaCore(): { core?: LlamaCore; note?: string } {
  const named = process.env.NANO_LLAMA_CPP_BUILD;
  if (named) {
    const core = coreAt(named);
    return core ? { core } : { note: `NANO_LLAMA_CPP_BUILD=${named} has no bin/${TOOLS.join(', bin/')}` };
  }
  const core = coreAt(join(CACHE, 'build'));
  if (core) return { core };
  return { note: `llama.cpp core tools absent (no ${join(CACHE, 'build')}): run 'npm run bench:anchor -- --build-llama' once (about 15 minutes on 2 cores), or set NANO_LLAMA_CPP_BUILD to an existing llama.cpp CMake build` };
}

/** Clones the bundled source and builds the three tools into the cache (once). */
export function buildLlamaCore(log: (line: string) => void): LlamaCore {
  const existing = coreAt(join(CACHE, 'build'));
  if (existing) return existing;
  if (!existsSync(BUNDLE)) throw new Error(`no llama.cpp source bundle at ${BUNDLE} (is node-llama-cpp installed?)`);
  mkdirSync(CACHE, { recursive: true });
  const src = join(CACHE, 'src'), build = join(CACHE, 'build');
  const run = (cmd: string, args: string[]): void => {
    log(`${cmd} ${args.join(' ')}`);
    execFileSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  };
  if (!existsSync(join(src, 'CMakeLists.txt'))) run('git', ['clone', '--quiet', BUNDLE, src]);
  run('cmake', ['-S', src, '-B', build, '-DCMAKE_BUILD_TYPE=Release', '-DGGML_NATIVE=ON', '-DLLAMA_CURL=OFF', '-DLLAMA_BUILD_TESTS=OFF', '-DLLAMA_BUILD_SERVER=OFF']);
  run('cmake', ['--build', build, '--config', 'Release', '-j', String(availableParallelism()), '--target', ...TOOLS]);
  const core = coreAt(build);
  if (!core) throw new Error(`the llama.cpp build in ${build} did not produce ${TOOLS.join(', ')}`);
  return core;
}

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

export interface LlamaBenchFigures {
  prefillTokPerS: number;
  /** NaN when genLen is 0 (prefill only); prefillTokPerS likewise when promptLen is 0. */
  decodeTokPerS: number;
  promptLen: number;
  genLen: number;
  /** The thread count whose prefill was the fastest. */
  prefillThreads: number;
}

/** Thread counts probed: 1 up to `threads` (its busy-waiting threads collapse on a shared 2-core VM), the best counts. */
const threadCounts = (threads: number): number[] => Array.from(new Set([1, threads]));

/** A llama-bench row's tok/s: the median of its repetitions (samples_ts), else their mean (avg_ts). */
function rowTokPerS(r: Record<string, unknown>): number {
  const samples = Array.isArray(r.samples_ts) ? (r.samples_ts as unknown[]).map(Number).sort((a, b) => a - b) : [];
  if (samples.length === 0) return Number(r.avg_ts);
  const mid = samples.length >> 1;
  return samples.length % 2 === 1 ? samples[mid] : (samples[mid - 1] + samples[mid]) / 2;
}

/**
 * llama-bench: a promptLen-token prompt in one batch (pp), then genLen tokens one at a time (tg;
 * none when genLen is 0), each the median of reps at the fastest of 1 and `threads` threads
 * (exactly `threads` when `isExact`); extraArgs: more flags (e.g. -ctk f16 -ctv f16).
 */
export function llamaBench(core: LlamaCore, gguf: string, threads: number, promptLen = 512, genLen = 128, reps = 3, extraArgs: string[] = [], isExact = false): LlamaBenchFigures {
  const counts = isExact ? [threads] : threadCounts(threads);
  const out = execFileSync(core.tool('llama-bench'), ['-m', gguf, '-p', String(promptLen), '-n', String(genLen), '-t', counts.join(','), '-r', String(reps), ...extraArgs, '-o', 'jsonl'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: core.env });
  const rows = jsonLines(out);
  const fastest = (pick: (r: Record<string, unknown>) => boolean): Record<string, unknown> | undefined =>
    rows.filter(pick).reduce<Record<string, unknown> | undefined>((a, r) => (a === undefined || rowTokPerS(r) > rowTokPerS(a) ? r : a), undefined);
  const pp = fastest((r) => Number(r.n_prompt) > 0 && Number(r.n_gen) === 0);
  const tg = fastest((r) => Number(r.n_gen) > 0 && Number(r.n_prompt) === 0);
  if (promptLen > 0 && !pp) throw new Error('llama-bench printed no prefill row');
  return { prefillTokPerS: pp ? rowTokPerS(pp) : NaN, decodeTokPerS: tg ? rowTokPerS(tg) : NaN, promptLen, genLen, prefillThreads: pp ? Number(pp.n_threads) : threads };
}

export interface BatchedFigures {
  parallel: number;
  promptLen: number;
  genLen: number;
  /** parallel x genLen over its whole run, t_pp + t_tg (what it reports as T). */
  outputTokPerS: number;
  /**
   * parallel x genLen over t_pp + t_tg x (genLen - 1) / genLen: like with like for an engine whose
   * prompt step yields the first token. llama-batched-bench's prompt step computes the logits of
   * each prompt's last token and then runs genLen more batches of `parallel` rows, the last of
   * which yields a token past genLen; an engine that samples the first token from the prompt step
   * runs genLen - 1 such batches for the same genLen tokens per sequence.
   */
  sameStepsOutTokPerS: number;
  /** S_PP: parallel x promptLen / t_pp. */
  promptPhaseTokPerS: number;
  /** S_TG: parallel x genLen / t_tg. */
  genPhaseTokPerS: number;
}

/** llama-batched-bench: `parallel` sequences of promptLen-token prompts, genLen tokens each, all in one batch per step; extraArgs: more flags (e.g. -ctk q8_0 -ctv q8_0 -fa on). */
export function llamaBatchedBench(core: LlamaCore, gguf: string, threads: number, parallel = 32, promptLen = 32, genLen = 128, extraArgs: string[] = []): BatchedFigures {
  const ctx = parallel * (promptLen + genLen) + 64;
  const runs = threadCounts(threads).map((t): BatchedFigures => {
    const out = execFileSync(core.tool('llama-batched-bench'), ['-m', gguf, '-c', String(ctx), '-b', '2048', '-ub', '512', '-npp', String(promptLen), '-ntg', String(genLen), '-npl', String(parallel), '-t', String(t), ...extraArgs, '--output-format', 'jsonl'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: core.env });
    const [row] = jsonLines(out);
    if (!row) throw new Error('llama-batched-bench printed no result');
    const tPp = Number(row.t_pp), tTg = Number(row.t_tg);  // seconds: prompt processing, generation
    const numOut = parallel * genLen;
    return { parallel, promptLen, genLen, outputTokPerS: numOut / (tPp + tTg), sameStepsOutTokPerS: numOut / (tPp + (tTg * (genLen - 1)) / genLen), promptPhaseTokPerS: Number(row.speed_pp), genPhaseTokPerS: Number(row.speed_tg) };
  });
  return runs.reduce((a, b) => (b.outputTokPerS > a.outputTokPerS ? b : a));
}
