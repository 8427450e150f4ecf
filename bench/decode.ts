/**
 * Single-stream decode against the read-bandwidth bound (issue #17, #14): one sequence, one
 * token per step, raw executor (no engine), 2 threads by default. For each case (a preset with
 * f32 or bf16 weights, or a quantized GGUF), on each forced kernel path, in rounds that
 * alternate the cases (so a burst of other work on a shared machine hits them all): tok/s of
 * 64 greedy steps at positions 0..63, the weights streamed per token (all but the embedding,
 * of which one row is read) and what share of the bound that is. The bound is the read
 * bandwidth of all threads streaming AT ONCE (bench/probes/read_bandwidth.cpp, `gbps`),
 * measured before and after; the sum of each thread's best pass alone is printed beside it.
 * f32 and GGUF cases also time the one-row GEMMs of the whole model alone (every matrix of
 * every layer and the LM head, in the step's order: f32 through gemm_probe, quantized through
 * quant_gemm_probe with the file's block types per fused matrix and the case's kernel): the
 * share of the step they take and their own GB/s.
 *
 *   npm run build:ts && flock /tmp/nano-bench.lock node dist/bench/decode.js \
 *     [--models small,medium] [--dtypes f32] [--kernels avx512,avx2] [--gguf FILE,...]
 *     [--llama] [--rounds 5] [--threads 2] [--out FILE]
 * --llama adds llama.cpp's llama-bench tg64 on each GGUF (NANO_LLAMA_CPP_BUILD), in the rounds.
 * Writes bench/results/decode-quant.json when the run has GGUF files and no preset (`--models
 * none`), decode-<dtypes>.json (decode-f32.json) when it has only presets, decode.json when
 * both; --out FILE writes FILE instead.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NativeExecutor, type NativeExecutorCreateOptions } from '../src/executor/native.js';
import type { StepInput } from '../src/executor/step.js';
import { loadGgufModel } from '../src/models/gguf-loader.js';
import { isPresetName, presetConfig, type PresetName } from '../src/models/presets.js';
import { syntheticTensors } from '../src/models/synthetic.js';
import type { ModelConfig, TensorMap } from '../src/models/config.js';
import { greedyParams } from './greedy-params.js';
import { findLlamaCore, llamaBench } from './llama-core.js';
import { cpuLine, machineInfo } from './machine.js';
import { measureGemm, measureQuantGemm, measureReadBandwidth, type QuantMatrixShape, type ReadBandwidth, type WeightShape } from './probes.js';

const PAGE = 16;
const STEPS = 64;
type Kernel = 'avx512' | 'avx2' | 'portable' | 'auto';

interface Case {
  label: string;
  kernel: Kernel;
  config: ModelConfig;
  ex: NativeExecutor;
  streamedBytes: number;
  gemvShapes?: WeightShape[];
  /** GGUF cases whose linear layers are all quantized: the fused matrices of one step. */
  quantShapes?: QuantMatrixShape[];
  /** The NANO_SERVING_KERNEL the case's executor was made under (the quantized probe follows it). */
  kernelEnv?: string;
  gguf?: string;
  tokPerS: number[];
  cpuPerWall: number[];
  llamaTokPerS: number[];
}

function decodeStep(token: number, position: number, pages: number): StepInput {
  return {
    tokens: Int32Array.of(token), positions: Int32Array.of(position), seqStart: Int32Array.of(0, 1),
    pageTable: Int32Array.from({ length: pages }, (_, i) => i), pageStart: Int32Array.of(0, pages),
    isSampled: Uint8Array.of(1), ...greedyParams(1),
  };
}

/** One pass of STEPS greedy steps from position 0; tok/s and the process's CPU time over the wall time. */
async function pass(c: Case): Promise<{ tokPerS: number; cpuPerWall: number }> {
  const pages = Math.ceil(STEPS / PAGE);
  await c.ex.step(decodeStep(5, 0, pages));  // warm-up: the workers wake, the weights' first pages
  let token = 5;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) token = (await c.ex.step(decodeStep(token, i, pages))).tokens[0];
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { tokPerS: (STEPS * 1000) / ms, cpuPerWall: (cpu.user + cpu.system) / 1000 / ms };
}

/** The linear layers of one token in the step's order (qkv, attention out, gate|up, down per layer; the LM head). */
function gemvShapes(c: ModelConfig): WeightShape[] {
  const q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim, ffn = c.intermediateSize;
  const layer = [{ n: q + 2 * kv, k: c.hiddenSize }, { n: c.hiddenSize, k: q }, { n: 2 * ffn, k: c.hiddenSize }, { n: c.hiddenSize, k: ffn }];
  return [...Array.from({ length: c.numLayers }, () => layer).flat(), { n: c.vocabSize, k: c.hiddenSize }];
}

/** The quantized matrices of one step as the executor fuses them (q|k|v, gate|up), or undefined if any is a float tensor. */
function quantShapes(c: ModelConfig, tensors: TensorMap): QuantMatrixShape[] | undefined {
  const fused = (names: string[]): QuantMatrixShape | undefined => {
    const ts = names.map((n) => tensors[n]).filter((t) => t !== undefined);
    if (ts.length === 0 || ts.some((t) => t.dtype.startsWith('f') || t.dtype === 'bf16')) return undefined;
    return { parts: ts.map((t) => ({ type: t.dtype, rows: t.shape[0] })), k: ts[0].shape[1] };
  };
  const out: Array<QuantMatrixShape | undefined> = [];
  for (let l = 0; l < c.numLayers; l++) {
    const b = (n: string): string => `blk.${l}.${n}.weight`;
    out.push(fused([b('attn_q'), b('attn_k'), b('attn_v')]), fused([b('attn_output')]), fused([b('ffn_gate'), b('ffn_up')]), fused([b('ffn_down')]));
  }
  out.push(fused([tensors['output.weight'] ? 'output.weight' : 'token_embd.weight']));
  return out.every((m) => m !== undefined) ? out as QuantMatrixShape[] : undefined;
}

function embeddingBytes(tensors: TensorMap): number {
  return tensors['token_embd.weight']?.data.byteLength ?? 0;
}

function executorFor(config: ModelConfig, tensors: TensorMap, kernel: Kernel, threads: number, weightDtype?: 'f32' | 'bf16'): NativeExecutor {
  const options: NativeExecutorCreateOptions = {
    config, tensors, numPages: Math.ceil(STEPS / PAGE) + 1, pageSize: PAGE, numThreads: threads, maxBatchTokens: 16, maxSeqs: 1,
    kernel: kernel === 'avx512' || kernel === 'avx2' || kernel === 'portable' ? kernel : 'auto',
  };
  if (weightDtype) options.weightDtype = weightDtype;
  // The quantized kernels follow NANO_SERVING_KERNEL (avx2 forces their AVX2 path too).
  const saved = process.env.NANO_SERVING_KERNEL;
  if (kernel === 'avx2' || kernel === 'portable') process.env.NANO_SERVING_KERNEL = kernel;
  try {
    return NativeExecutor.create(options);
  } finally {
    if (saved === undefined) delete process.env.NANO_SERVING_KERNEL;
    else process.env.NANO_SERVING_KERNEL = saved;
  }
}

function presetCase(name: PresetName, dtype: 'f32' | 'bf16', kernel: Kernel, threads: number): Case {
  const config = presetConfig(name);
  const tensors = syntheticTensors(config, 0);
  const ex = executorFor(config, tensors, kernel, threads, dtype);
  const embedding = config.vocabSize * config.hiddenSize * (dtype === 'bf16' ? 2 : 4);
  const info = ex.nativeInfo();
  return {
    label: `${name} ${dtype}`, kernel: info.kernel as Kernel, config, ex, streamedBytes: info.weightBytes - embedding,
    gemvShapes: dtype === 'f32' ? gemvShapes(config) : undefined, tokPerS: [], cpuPerWall: [], llamaTokPerS: [],
  };
}

async function ggufCase(file: string, kernel: Kernel, threads: number): Promise<Case> {
  const model = await loadGgufModel(file);
  const ex = executorFor(model.config, model.tensors, kernel, threads);
  const info = ex.nativeInfo();
  return {
    label: basename(file, '.gguf'), kernel: `${info.kernel}+${info.quantKernel ?? '-'}` as Kernel, config: model.config, ex,
    streamedBytes: info.weightBytes - embeddingBytes(model.tensors), gguf: file, tokPerS: [], cpuPerWall: [], llamaTokPerS: [],
    quantShapes: quantShapes(model.config, model.tensors), kernelEnv: kernel === 'avx2' || kernel === 'portable' ? kernel : undefined,
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function table(cases: Case[], bw: ReadBandwidth, gemv: Map<Case, number>): string {
  const lines = [
    '| case | kernel | MB / token | tok/s (median) | best | GB/s | % of bound | one-row GEMMs alone: GB/s, % of bound, share of the step | CPU / wall | llama.cpp tg64 | ours / llama.cpp |',
    '|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|',
  ];
  for (const c of cases) {
    const tok = median(c.tokPerS), best = Math.max(...c.tokPerS);
    const gbps = (tok * c.streamedBytes) / 1e9;
    const g = gemv.get(c);
    const gemvCell = g === undefined ? '-' : `${g.toFixed(1)}, ${((100 * g) / bw.gbps).toFixed(0)} %, ${((100 * tok * c.streamedBytes) / (g * 1e9)).toFixed(0)} %`;
    const llama = c.llamaTokPerS.length ? median(c.llamaTokPerS) : undefined;
    lines.push(`| ${c.label} | ${c.kernel} | ${(c.streamedBytes / 1e6).toFixed(1)} | ${tok.toFixed(1)} | ${best.toFixed(1)} | ${gbps.toFixed(1)} | ${((100 * gbps) / bw.gbps).toFixed(0)} % | ${gemvCell} | ${median(c.cpuPerWall).toFixed(2)} | ${llama?.toFixed(1) ?? '-'} | ${llama ? `${(tok / llama).toFixed(2)}x` : '-'} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const arg = (name: string, fallback: string): string => {
    const at = process.argv.indexOf(`--${name}`);
    return at >= 0 ? process.argv[at + 1] : fallback;
  };
  const threads = Number(arg('threads', String(Math.min(2, availableParallelism()))));
  const rounds = Number(arg('rounds', '5'));
  const kernels = arg('kernels', 'avx512,avx2').split(',') as Kernel[];
  const models = arg('models', 'small,medium').split(',').filter((m) => m && isPresetName(m)) as PresetName[];
  const dtypes = arg('dtypes', 'f32').split(',') as Array<'f32' | 'bf16'>;
  const ggufs = arg('gguf', '').split(',').filter(Boolean);
  const llama = process.argv.includes('--llama') ? findLlamaCore().core : undefined;
  const log = (line: string): void => console.error(`[decode] ${line}`);

  const machine = machineInfo();
  const before = measureReadBandwidth(threads);
  const cases: Case[] = [];
  for (const kernel of kernels) {
    for (const name of models) for (const dtype of dtypes) cases.push(presetCase(name, dtype, kernel, threads));
    for (const file of ggufs) cases.push(await ggufCase(file, kernel, threads));
  }
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const p = await pass(c);
      c.tokPerS.push(p.tokPerS);
      c.cpuPerWall.push(p.cpuPerWall);
      if (llama && c.gguf && c === cases.find((o) => o.gguf === c.gguf)) c.llamaTokPerS.push(llamaBench(llama, c.gguf, threads, 0, STEPS).decodeTokPerS);
    }
    log(`round ${r + 1}/${rounds}: ${cases.map((c) => `${c.label} ${c.kernel} ${c.tokPerS[r].toFixed(1)}`).join(', ')}`);
  }
  const gemv = new Map<Case, number>();
  for (const c of cases) {
    if (!c.gemvShapes) continue;
    const isa = c.kernel.startsWith('avx512') ? 'avx512' : c.kernel.startsWith('avx2') ? 'avx2' : 'portable';
    const [f] = measureGemm(isa, threads, c.gemvShapes, [1], 2);
    if (f) gemv.set(c, 2 * f.gflops);  // f32: 4 bytes per 2 flops
  }
  for (const c of cases) c.ex.close();
  // After the executors are closed (the probe stores its own copy of every matrix).
  for (const c of cases) if (c.quantShapes) gemv.set(c, measureQuantGemm(threads, c.quantShapes, 2, c.kernelEnv).gbps);
  const after = measureReadBandwidth(threads);
  const bw = before.gbps >= after.gbps ? before : after;  // the higher of the two (a burst of other work lowers it): the share is not flattered
  console.log(`${cpuLine(machine)}; ${threads} threads; ${rounds} rounds of ${STEPS} steps`);
  console.log(`read bandwidth, ${threads} threads at once: ${before.gbps.toFixed(1)} GB/s before, ${after.gbps.toFixed(1)} after (bound: ${bw.gbps.toFixed(1)}); ` +
    `each thread's best pass alone, summed: ${before.gbpsSumOfBest.toFixed(1)} / ${after.gbpsSumOfBest.toFixed(1)}; one thread: ${before.gbpsOneThread.toFixed(1)} / ${after.gbpsOneThread.toFixed(1)}`);
  console.log(table(cases, bw, gemv));
  const name = ggufs.length && models.length ? 'decode.json' : ggufs.length ? 'decode-quant.json' : `decode-${dtypes.join('+')}.json`;
  const out = arg('out', '') || join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results', name);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({
    date: new Date().toISOString(), machine, threads, readBandwidth: { before, after },
    cases: cases.map((c) => ({ label: c.label, kernel: c.kernel, streamedBytes: c.streamedBytes, tokPerS: c.tokPerS, cpuPerWall: c.cpuPerWall,
      gemvGBs: gemv.get(c) ?? null, llamaTokPerS: c.llamaTokPerS })),
  }, null, 1));
  console.log(`wrote ${out}`);
}

await main();
