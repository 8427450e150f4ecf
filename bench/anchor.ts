/**
 * The anchor: our figures beside llama.cpp's own C++ core (llama-bench, llama-batched-bench)
 * on the same GGUF (our synthetic preset weights, exported f32), with the FMA peaks and the
 * read bandwidth measured in the same run and the GEMM kernels as a share of their peak.
 *   npm run bench:anchor [-- --model small|medium|small,medium] [-- --threads N]
 *                        [-- --kernel auto|avx2|avx512|portable] [-- --llama-cpu native|avx2|avx512]
 *                        [-- --build-llama] [-- --rounds N] [-- --prefill-pairs N] [-- --no-gemm]
 *                        [-- --kv f32|f16|bf16|q8_0[,...]] [-- --out FILE]
 * --rounds N measures ours and llama.cpp alternately N times and gives each figure's median over
 * the rounds with its spread (min-max); --no-gemm leaves out the GEMM table.
 * The prefill row comes from --prefill-pairs N (default 5) pairs of ours and llama-bench's pp512
 * run one right after the other, the order alternating (prefill-pairs.ts): each side's median
 * and spread, and the median of the pairs' ratios with its spread; then what 1.3x llama.cpp's
 * median would take in GFLOP/s and as a share of the FMA peak measured in the same run.
 * --kv f32,f16 measures ours once per KV cache dtype (default f32; llama.cpp's default is f16,
 * so f16 is like with like), each beside the same llama.cpp figures; a q8_0 row is beside llama.cpp
 * run with its q8_0 cache (-ctk q8_0 -ctv q8_0, which needs flash attention: -fa on), measured
 * in the same rounds.
 * llama.cpp comes from NANO_LLAMA_CPP_BUILD or bench/.cache/llama.cpp (--build-llama builds
 * it there once from the source bundled in node-llama-cpp); without it, ours alone and a note.
 * --llama-cpu avx2 runs its tools on a CPU library compiled for AVX2 + FMA only (avx512: AVX-512
 * with VNNI and BF16, no AMX), built beside the core build (bench/llama-cpu.ts; --build-llama
 * builds it too), to compare like with like against --kernel avx2 on a CPU with AVX-512.
 * The 32-concurrent rows compare like with like: llama-batched-bench runs one batch of 32 rows
 * more than our engine for the same 128 tokens per sequence (its prompt step's logits go unused),
 * so its output tok/s is taken over t_pp + 127/128 t_tg (llama-core.ts), with the T it reports
 * beside it; each side's prompt and generation phases are given apart (S_PP, S_TG).
 * Writes bench/results/anchor-DATE.json (-2, -3, ... when taken), or --out FILE. Run it under the
 * bench lock on a shared machine.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { NativeExecutor } from '../src/executor/native.js';
import type { KvDtype } from '../src/native/binding.js';
import type { StepInput } from '../src/executor/step.js';
import { writeGguf } from '../src/models/gguf.js';
import type { PresetName } from '../src/models/presets.js';
import { loadNative } from '../src/native/load.js';
import { gemmRows, gemmTable, peaksLine } from './gemm.js';
import { llamaBuildFlags, parseLlamaCpu, resolveLlamaCpu } from './llama-cpu.js';
import { buildLlamaCore, findLlamaCore, llamaBatchedBench, llamaBench, loadedCpuLibrary, type LlamaCore } from './llama-core.js';
import { benchArgs, KV_DTYPES, PRESET_NAMES } from './args.js';
import { cpuLine, machineInfo } from './machine.js';
import { datedResultPath } from './result-path.js';
import { runOurs } from './ours.js';
import { fmtSpread, prefillFlopsPerToken, prefillPairs, spreadOf, type PrefillPairs, type Spread } from './prefill-pairs.js';
import { measurePeaks, peakFor, type Peaks } from './probes.js';
import { knobsFor, loadModel } from './suites.js';
import { randomWorkload } from './workloads.js';

const PROMPT = 512, GEN = 128, PARALLEL = 32, PAR_PROMPT = 32;

interface Figures {
  prefillTokPerS: number;
  decodeTokPerS: number;
  /** 32 x 128 output tokens over the run (llama.cpp: over t_pp + 127/128 t_tg, the same batches as ours; llama-core.ts). */
  concurrentOutTokPerS: number;
  /** The run's prompt phase: ours, the 1,024 prompt tokens over their step(s); llama.cpp, S_PP. */
  concurrentPromptTokPerS: number;
  /** The generation phase: ours, its tokens from the prompt phase's end to the last token; llama.cpp, S_TG. */
  concurrentGenTokPerS: number;
  /** llama.cpp only: 32 x 128 over t_pp + t_tg, the T it reports (one batch of 32 rows more than ours). */
  concurrentReportedOutTokPerS?: number;
}
type Spreads = { [K in keyof Figures]-?: Spread };
interface AnchorRow {
  model: PresetName; kernel: string; kvDtype: KvDtype; ours: Figures; llamaCore?: Figures; decodeBoundTokPerS: number;
  /** Each figure's spread over the rounds (ours and llama.cpp); the figures above are their medians. */
  oursSpread: Spreads; llamaSpread?: Spreads;
  /** The paired prefill comparison (ours vs llama-bench pp512), when llama.cpp is there. */
  prefill?: PrefillPairs;
}

function step(start: number, length: number, pages: number): StepInput {
  const z = (n: number): Float32Array => new Float32Array(n);
  return {
    tokens: Int32Array.from({ length }, (_, i) => 3 + ((i * 7919) % 250)), positions: Int32Array.from({ length }, (_, i) => start + i),
    seqStart: Int32Array.from([0, length]), pageTable: Int32Array.from({ length: pages }, (_, i) => i), pageStart: Int32Array.from([0, pages]),
    isSampled: Uint8Array.from([1]), temperature: z(1), topK: new Int32Array(1), topP: Float32Array.from([1]), minP: z(1), seed: new Float64Array(1),
    presencePenalty: z(1), frequencyPenalty: z(1), repetitionPenalty: Float32Array.from([1]), historyTokens: new Int32Array(0),
    historyStart: new Int32Array(2), historyPromptLen: new Int32Array(1), numTopLogprobs: new Int32Array(1), returnLogits: false,
  };
}

/** Raw executor: a 512-token prefill in one step (best of 5), then 128 single-token decode steps (best of 3 passes). */
async function ourRawFigures(name: PresetName, threads: number, kvDtype: KvDtype): Promise<{ prefill: number; decode: number; kernel: string; streamedBytes: number }> {
  const model = loadModel(name, threads, 'f32');
  const pages = (PROMPT + GEN) / 16;
  const ex = NativeExecutor.create({ config: model.config, tensors: model.tensors, numPages: pages, pageSize: 16, numThreads: threads, maxBatchTokens: PROMPT, maxSeqs: 1, kvDtype });
  try {
    let prefill = Infinity, decode = Infinity;
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      await ex.step(step(0, PROMPT, pages));
      prefill = Math.min(prefill, performance.now() - t0);
    }
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      for (let i = 0; i < GEN; i++) await ex.step(step(i, 1, pages));
      decode = Math.min(decode, (performance.now() - t0) / GEN);
    }
    const c = model.config;
    const embedding = c.tieEmbeddings ? 0 : c.vocabSize * c.hiddenSize * 4;  // one row read per token
    const info = ex.nativeInfo();
    return { prefill: (PROMPT * 1000) / prefill, decode: 1000 / decode, kernel: info.kernel, streamedBytes: info.weightBytes - embedding };
  } finally {
    ex.close();
  }
}

/** Through the engine; the phases from its steps: steps with prompt tokens, then decode steps (a step's end is its promise's resolution). */
async function ourConcurrent(name: PresetName, threads: number, kvDtype: KvDtype): Promise<Pick<Figures, 'concurrentOutTokPerS' | 'concurrentPromptTokPerS' | 'concurrentGenTokPerS'>> {
  const model = loadModel(name, threads, 'f32');
  const reqs = randomWorkload({ numRequests: PARALLEL, inputLen: [PAR_PROMPT, PAR_PROMPT], outputLen: [GEN, GEN], rate: Infinity, vocabSize: model.config.vocabSize, seed: 4242 });
  let promptTokens = 0, promptMs = 0, promptEnd = 0, genTokens = 0, genEnd = 0;
  const onStep = (input: StepInput, ms: number): void => {
    const numSeqs = input.seqStart.length - 1;
    if (input.tokens.length > numSeqs || promptTokens === 0) {  // a step with prompt tokens (or the first: one-token prompts)
      promptTokens += input.tokens.length;
      promptMs += ms;
      promptEnd = performance.now();
    } else {
      genTokens += numSeqs;
      genEnd = performance.now();
    }
  };
  const run = await runOurs(model, knobsFor(reqs, PARALLEL, { kvDtype }), reqs, PARALLEL, onStep);
  return { concurrentOutTokPerS: run.outputTokPerS, concurrentPromptTokPerS: (promptTokens * 1000) / promptMs, concurrentGenTokPerS: (genTokens * 1000) / (genEnd - promptEnd) };
}

/** Our preset as an f32 GGUF for llama.cpp (written once per run). */
function ggufFor(name: PresetName, threads: number): string {
  const gguf = join(tmpdir(), 'nano-serving-bench', `${name}-f32.gguf`);
  if (written.has(gguf)) return gguf;
  const model = loadModel(name, threads, 'f32');
  mkdirSync(dirname(gguf), { recursive: true });
  writeGguf(gguf, model.config, model.tensors);
  written.add(gguf);
  return gguf;
}
const written = new Set<string>();

/** llama.cpp's cache flags beside our KV dtype: its default (f16) but for q8_0, its own q8_0 cache. */
const llamaCacheArgs = (kvDtype: KvDtype): string[] => (kvDtype === 'q8_0' ? ['-ctk', 'q8_0', '-ctv', 'q8_0', '-fa', 'on'] : []);

function llamaFigures(core: LlamaCore, name: PresetName, threads: number, cacheArgs: string[] = []): Figures {
  const gguf = ggufFor(name, threads);
  const single = llamaBench(core, gguf, threads, PROMPT, GEN, 3, cacheArgs);
  const batched = llamaBatchedBench(core, gguf, threads, PARALLEL, PAR_PROMPT, GEN, cacheArgs);
  return {
    prefillTokPerS: single.prefillTokPerS, decodeTokPerS: single.decodeTokPerS, concurrentOutTokPerS: batched.sameStepsOutTokPerS,
    concurrentPromptTokPerS: batched.promptPhaseTokPerS, concurrentGenTokPerS: batched.genPhaseTokPerS, concurrentReportedOutTokPerS: batched.outputTokPerS,
  };
}

/** Each figure's spread over the rounds (a figure some round lacks is left out). */
function spreads(rounds: readonly Figures[]): Spreads {
  const out: Partial<Spreads> = {};
  for (const key of Object.keys(rounds[0]) as Array<keyof Figures>) {
    const values = rounds.map((f) => f[key]).filter((v): v is number => v !== undefined);
    if (values.length > 0) out[key] = spreadOf(values);
  }
  return out as Spreads;
}

const medians = (s: Spreads): Figures => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.median])) as unknown as Figures;

/** Our 512-token prefill, tok/s: the median of `steps` steps on a raw executor already warm. */
async function ourPrefillTokPerS(ex: NativeExecutor, steps: number): Promise<number> {
  const pages = (PROMPT + GEN) / 16;
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await ex.step(step(0, PROMPT, pages));
    times.push(performance.now() - t0);
  }
  return (PROMPT * 1000) / spreadOf(times).median;
}

async function pairedPrefill(core: LlamaCore, name: PresetName, threads: number, kvDtype: KvDtype, numPairs: number): Promise<PrefillPairs> {
  const model = loadModel(name, threads, 'f32');
  const gguf = ggufFor(name, threads);
  const llamaThreads = llamaBench(core, gguf, threads, PROMPT, 0, 1).prefillThreads;  // probe 1 and N threads once, keep the faster
  const ex = NativeExecutor.create({ config: model.config, tensors: model.tensors, numPages: (PROMPT + GEN) / 16, pageSize: 16, numThreads: threads, maxBatchTokens: PROMPT, maxSeqs: 1, kvDtype });
  try {
    await ex.step(step(0, PROMPT, (PROMPT + GEN) / 16));
    return await prefillPairs(() => ourPrefillTokPerS(ex, 3), () => llamaBench(core, gguf, llamaThreads, PROMPT, 0, 3, llamaCacheArgs(kvDtype), true).prefillTokPerS, numPairs);
  } finally {
    ex.close();
  }
}

/** What the prefill figures come to in GFLOP/s, and what 1.3x llama.cpp's median would need, against the run's FMA peak. */
function prefillFlopsLine(name: PresetName, kernel: string, pairs: PrefillPairs, peaks: Peaks): string {
  const flops = prefillFlopsPerToken(loadModel(name, 1, 'f32').config, PROMPT);
  const peak = peakFor(kernel, peaks);
  const gf = (tokPerS: number): string => {
    const g = (tokPerS * flops) / 1e9;
    return peak ? `${g.toFixed(0)} GFLOP/s (${((100 * g) / peak).toFixed(0)} % of the ${peak.toFixed(0)} GFLOP/s ${kernel.startsWith('avx512') ? 'AVX-512' : 'AVX2'} peak)` : `${g.toFixed(0)} GFLOP/s`;
  };
  return `${name} prefill ${PROMPT}: ${(flops / 1e6).toFixed(2)} MFLOP per token; ours ${gf(pairs.ours.median)}, llama.cpp ${gf(pairs.llama.median)}; 1.3x llama.cpp's median needs ${gf(1.3 * pairs.llama.median)}`;
}

function table(rows: AnchorRow[], peaks: Peaks, rounds: number): string {
  const lines = [`| model | our kernel, KV | measure | ours | llama.cpp core (f16 KV) | ours / llama.cpp |`, '|---|---|---|---|---|---|'];
  const ratio = (a: number, b?: number): string => (b ? `${(a / b).toFixed(2)}x` : '-');
  for (const r of rows) {
    const l = r.llamaCore;
    const cells = (key: keyof Figures): string => `${fmtSpread(r.oursSpread[key])} | ${r.llamaSpread?.[key] ? fmtSpread(r.llamaSpread[key]) : '-'} | ${ratio(r.ours[key] ?? 0, l?.[key])}`;
    const p = r.prefill;
    const prefillCells = p ? `${fmtSpread(p.ours)} | ${fmtSpread(p.llama)} | ${fmtSpread(p.ratio, 2)}x` : cells('prefillTokPerS');
    const prefillHow = p ? `median of ${p.rounds.length} pairs run back to back, order alternating (min-max); ratio: median of the pairs' ratios` : `median of ${rounds} round(s)`;
    lines.push(`| ${r.model} | ${r.kernel}, ${r.kvDtype} | prefill ${PROMPT} tok/s (${prefillHow}) | ${prefillCells} |`);
    lines.push(`| ${r.model} | ${r.kernel}, ${r.kvDtype} | single-stream decode tok/s (${((100 * r.ours.decodeTokPerS) / r.decodeBoundTokPerS).toFixed(0)} % of the ${r.decodeBoundTokPerS.toFixed(0)} tok/s bound at ${peaks.readGBs.toFixed(1)} GB/s) | ${cells('decodeTokPerS')} |`);
    const reported = l?.concurrentReportedOutTokPerS ? `; as it reports it, over t_pp + t_tg: ${l.concurrentReportedOutTokPerS.toFixed(0)}` : '';
    lines.push(`| ${r.model} | ${r.kernel}, ${r.kvDtype} | ${PARALLEL} concurrent, ${PAR_PROMPT}-token prompts, ${GEN} out, output tok/s (llama.cpp: over t_pp + ${GEN - 1}/${GEN} t_tg, the same batches as ours${reported}) | ${cells('concurrentOutTokPerS')} |`);
    lines.push(`| ${r.model} | ${r.kernel}, ${r.kvDtype} | ${PARALLEL} concurrent: prompt phase tok/s (ours: the prompt step; llama.cpp: S_PP) | ${cells('concurrentPromptTokPerS')} |`);
    lines.push(`| ${r.model} | ${r.kernel}, ${r.kvDtype} | ${PARALLEL} concurrent: generation phase tok/s (ours: the decode steps after the prompt step; llama.cpp: S_TG) | ${cells('concurrentGenTokPerS')} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = benchArgs({
    model: 'value', threads: 'value', kernel: 'value', 'llama-cpu': 'value', 'build-llama': 'flag', rounds: 'value',
    'prefill-pairs': 'value', 'no-gemm': 'flag', kv: 'value', out: 'value',
  });
  const threads = args.int('threads', Math.min(2, availableParallelism()));
  const models = args.list('model', PRESET_NAMES, 'small');
  const kernel = args.value('kernel', 'auto');
  if (kernel !== 'auto') process.env.NANO_SERVING_KERNEL = kernel;
  const log = (line: string): void => console.error(`[anchor] ${line}`);
  const llamaCpu = parseLlamaCpu(args.value('llama-cpu', 'native'));
  const isBuilding = args.flag('build-llama');
  const rounds = args.int('rounds', 1);
  const numPairs = args.int('prefill-pairs', 5);
  const kvDtypes = args.list('kv', KV_DTYPES, 'f32');
  const out = args.value('out', '') || datedResultPath('anchor');
  let { core, note } = findLlamaCore();
  if (!core && isBuilding) ({ core, note } = { core: buildLlamaCore(log), note: undefined });
  if (core) ({ core, note } = resolveLlamaCpu(core, llamaCpu, isBuilding, log));
  const machine = machineInfo();
  const peaks = measurePeaks(threads);
  const loadBefore = loadavg()[0];
  const started = new Date();
  loadNative().clonesUsed(true);
  const rows: AnchorRow[] = [];
  const flopsLines: string[] = [];
  for (const name of models) {
    const byKv = new Map<KvDtype, { kernel: string; decodeBoundTokPerS: number; rounds: Figures[] }>();
    const llamaRounds: Figures[] = [];
    const llamaQ8Rounds: Figures[] = [];  // llama.cpp with its q8_0 cache, for our q8_0 rows
    for (let round = 1; round <= rounds; round++) {
      for (const kvDtype of kvDtypes) {
        log(`${name}: ours, ${kvDtype} KV (round ${round} of ${rounds})`);
        const raw = await ourRawFigures(name, threads, kvDtype);
        const ours: Figures = { prefillTokPerS: raw.prefill, decodeTokPerS: raw.decode, ...(await ourConcurrent(name, threads, kvDtype)) };
        const kept = byKv.get(kvDtype) ?? { kernel: raw.kernel, decodeBoundTokPerS: (peaks.readGBs * 1e9) / raw.streamedBytes, rounds: [] };
        kept.rounds.push(ours);
        byKv.set(kvDtype, kept);
      }
      log(`${name}: llama.cpp core`);
      if (core) llamaRounds.push(llamaFigures(core, name, threads));
      if (core && kvDtypes.includes('q8_0')) {
        log(`${name}: llama.cpp core, q8_0 cache`);
        llamaQ8Rounds.push(llamaFigures(core, name, threads, llamaCacheArgs('q8_0')));
      }
    }
    for (const [kvDtype, kept] of byKv) {
      const llamaOf = kvDtype === 'q8_0' ? llamaQ8Rounds : llamaRounds;
      const llamaSpread = llamaOf.length > 0 ? spreads(llamaOf) : undefined;
      let prefill: PrefillPairs | undefined;
      if (core) {
        log(`${name}: prefill pairs, ${kvDtype} KV (${numPairs})`);
        prefill = await pairedPrefill(core, name, threads, kvDtype, numPairs);
        flopsLines.push(`${prefillFlopsLine(name, kept.kernel, prefill, peaks)} (${kvDtype} KV)`);
      }
      const oursSpread = spreads(kept.rounds);
      rows.push({
        model: name, kernel: kept.kernel, kvDtype, ours: medians(oursSpread), oursSpread, decodeBoundTokPerS: kept.decodeBoundTokPerS,
        llamaCore: llamaSpread ? medians(llamaSpread) : undefined, llamaSpread, prefill,
      });
    }
  }
  const gemm = args.flag('no-gemm') ? [] : gemmRows(models, threads, peaks, 0.4);
  const loadAfter = loadavg()[0];
  const ended = new Date();
  // Which builds of the row ops and of sampling our runs took (the kernel switch picks them too).
  const builds = loadNative().clonesUsed();
  const llamaLine = core ? `llama.cpp core: tools from ${core.build}, CPU library ${loadedCpuLibrary(core)} (${llamaBuildFlags(core.cpuBuild)}), f16 KV, its defaults${kvDtypes.includes('q8_0') ? ' (beside our q8_0 rows: -ctk q8_0 -ctv q8_0 -fa on)' : ''}` : undefined;
  console.log(`${cpuLine(machine)}; ${threads} threads; medians of ${rounds} round(s), ${numPairs} prefill pairs; ${started.toISOString().slice(11, 19)}-${ended.toISOString().slice(11, 19)} UTC ${started.toISOString().slice(0, 10)}; load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after`);
  console.log(`our row ops ran their ${builds.rowOps.join(' + ') || '-'} build, sampling its ${builds.sampling.join(' + ') || '-'} build`);
  if (llamaLine) console.log(llamaLine);
  console.log(peaksLine(peaks));
  if (note) console.log(`note: ${note}`);
  console.log(table(rows, peaks, rounds));
  for (const line of flopsLines) console.log(line);
  if (gemm.length > 0) console.log(gemmTable(gemm));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ date: started.toISOString(), ended: ended.toISOString(), builds, machine, threads, rounds, numPairs, loadBefore, loadAfter, peaks, llamaCore: core?.build ?? null, llamaCpu: llamaLine ?? null, note: note ?? null, rows, gemm }, null, 1));
  console.log(`wrote ${out}`);
}

await main();
