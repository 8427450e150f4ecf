/**
 * Single-stream decode against the read-bandwidth bound (issue #17, #14): one sequence, one
 * token per step, raw executor (no engine), 2 threads by default. For each case (a preset with
 * f32 or bf16 weights, or a quantized GGUF), on each forced kernel path, in rounds that
 * alternate the cases (so a burst of other work on a shared machine hits them all): tok/s of
 * 64 greedy steps at positions 0..63 and what share of the bound that is.
 *
 * Bytes per token (bench/decode-bound.ts): every weight the step streams (layers, final norm,
 * LM head), one row of the token embedding, and the K/V read at the step's own context (mean
 * (64 + 1) / 2 positions) plus the entry written, in the KV element type of the run (--kv,
 * default f16, llama.cpp's default, so both sides read the same bytes).
 * The bound is the read bandwidth of all threads streaming AT ONCE (bench/probes/read_bandwidth.cpp,
 * 256 MiB, `gbps`), measured right before and right after EVERY pass (ours and llama.cpp's: the
 * probes interleave with the passes); a pass's share is over the higher of its two probes.
 * Shares are printed per pass as the median and the range over the rounds, for ours and for
 * llama.cpp's llama-bench tg64 over the same bytes per token.
 * Each pass also reads the step profile (StepProfileFigures: GEMMs, attention, row ops, LM
 * head, sampling, the pool's waits, the runner's gap between steps) and the JS time between a
 * step's result and the next call: the breakdown table, ms per token, medians over the rounds.
 * f32 and GGUF cases also time the one-row GEMMs of the whole model alone (every matrix of
 * every layer and the LM head, in the step's order: f32 through gemm_probe, quantized through
 * quant_gemm_probe with the file's block types per fused matrix and the case's kernel), each
 * between two probes of its own: its GB/s and its share of the bound.
 *
 *   npm run build:ts && flock /tmp/nano-bench.lock node dist/bench/decode.js \
 *     [--models small,medium] [--dtypes f32] [--kernels avx512,avx2] [--gguf FILE,...]
 *     [--llama] [--llama-cpu native|avx2|avx512] [--rounds 5] [--threads 2] [--kv f16|bf16|f32]
 *     [--ahead auto|on|off|both] [--step runner|sync|both] [--no-profile] [--gemm-beside GAPS]
 *     [--out FILE]
 * --gemm-beside 0,4: right after each quantized pass, quant_gemm_probe over the same matrices
 * back to back for 0.5 s per gap (µs the caller spins after each product, as the step's row
 * work sits between them); a table sets the pass's GEMMs + LM head (step profile) beside the
 * probe's best, mean and median pass (is the step slower than its matrices, or the host?).
 * --ahead: decoding ahead (the executor's decodeAhead, native/src/decode_ahead.h) as the
 * executor defaults it (auto), on, off, or both side by side as separate cases in the same rounds.
 * --step: steps through the step runner (step(), with --ahead), on the JS thread (stepSync, as
 * the engine runs single-stream decode by default: its syncSteps 'auto'), or both (default) as
 * separate cases in the same rounds.
 * --llama-cpu avx2: llama.cpp's tools on its AVX2-only CPU library (bench/llama-cpu.ts), to
 * compare like with like against --kernels avx2; avx512: its AVX-512 library (VNNI, BF16, no AMX).
 * --llama adds llama.cpp's llama-bench tg64 on each GGUF (NANO_LLAMA_CPP_BUILD, -ctk/-ctv as
 * --kv), in the rounds. Writes a new file each run, never an earlier one:
 * bench/results/decode-quant-DATE.json when the run has GGUF files and no preset (`--models
 * none`), decode-<dtypes>-DATE.json (decode-f32-DATE.json) when it has only presets,
 * decode-DATE.json when both (DATE-2, DATE-3, ... when taken); --out FILE writes FILE instead.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname } from 'node:path';
import type { KvDtype } from '../src/native/binding.js';
import { BenchArgError, benchArgs, PRESET_NAMES } from './args.js';
import { decodeStep, ggufCase, PAGE, presetCase, STEPS, type Case, type Kernel, type Variant } from './decode-cases.js';
import { median } from './decode-bound.js';
import { besideTable, breakdownTable, shares, table, type Pass } from './decode-tables.js';
import { parseLlamaCpu, resolveLlamaCpu } from './llama-cpu.js';
import { findLlamaCore, llamaBench, loadedCpuLibrary } from './llama-core.js';
import { cpuLine, machineInfo } from './machine.js';
import { datedResultPath } from './result-path.js';
import { measureGemm, measureQuantGemm, measureReadBandwidth, type ReadBandwidth } from './probes.js';

/** One pass of STEPS greedy steps from position 0: tok/s, CPU / wall, the step profile and the JS ms between a result and the next call. */
async function pass(c: Case, isProfiled: boolean): Promise<Omit<Pass, 'before' | 'after'>> {
  const pages = Math.ceil(STEPS / PAGE);
  await c.ex.step(decodeStep(5, 0, pages));  // warm-up: the workers wake, the weights' first pages
  c.ex.stepProfile(isProfiled);
  let token = 5, jsMs = 0, resolved = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) {
    if (i > 0) jsMs -= resolved;  // from the result to the next call, the input's making included
    const input = decodeStep(token, i, pages);
    const call = performance.now();
    if (i > 0) jsMs += call;
    token = (c.isSync ? c.ex.stepSync(input) : await c.ex.step(input)).tokens[0];
    resolved = performance.now();
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const profile = c.ex.stepProfile(false);
  return { tokPerS: (STEPS * 1000) / ms, cpuPerWall: (cpu.user + cpu.system) / 1000 / ms, ...(isProfiled ? { profile, jsMs: jsMs / (STEPS - 1) } : {}) };
}

async function main(): Promise<void> {
  const args = benchArgs({
    models: 'value', dtypes: 'value', kernels: 'value', gguf: 'value', llama: 'flag', 'llama-cpu': 'value', rounds: 'value', threads: 'value',
    kv: 'value', ahead: 'value', step: 'value', 'no-profile': 'flag', 'gemm-beside': 'value', out: 'value',
  });
  const threads = args.int('threads', Math.min(2, availableParallelism()));
  const rounds = args.int('rounds', 5);
  const kernels = args.list<Kernel>('kernels', ['avx512', 'avx2', 'portable', 'auto'], 'avx512,avx2');
  const models = args.value('models', 'small,medium') === 'none' ? [] : args.list('models', PRESET_NAMES, 'small,medium');
  const dtypes = args.list('dtypes', ['f32', 'bf16'], 'f32');
  const ggufs = args.value('gguf', '').split(',').filter(Boolean);
  const kv = args.choice<KvDtype>('kv', ['f16', 'bf16', 'f32'], 'f16');
  const isProfiled = !args.flag('no-profile');
  // --gemm-beside 0,4: after each quantized pass, the probe over the same matrices (0.5 s per gap, µs spun after each product).
  const besideGaps = args.value('gemm-beside', '').split(',').filter(Boolean).map(Number);
  if (besideGaps.some((g) => !(g >= 0 && g <= 1000))) throw new BenchArgError(`--gemm-beside takes gaps in µs, 0-1000, got '${args.value('gemm-beside', '')}'`);
  if (besideGaps.length && !isProfiled) throw new BenchArgError('--gemm-beside compares with the step profile: drop --no-profile');
  const aheadArg = args.choice('ahead', ['auto', 'on', 'off', 'both'], 'auto');
  const aheads = aheadArg === 'both' ? [true, false] : [aheadArg === 'auto' ? undefined : aheadArg === 'on'];
  const stepArg = args.choice('step', ['runner', 'sync', 'both'], 'both');
  const variants: Variant[] = [
    ...(stepArg === 'sync' ? [] : aheads.map((ahead) => ({ ahead, isSync: false }))),
    ...(stepArg === 'runner' ? [] : [{ ahead: false, isSync: true }]),
  ];
  let llama = args.flag('llama') ? findLlamaCore().core : undefined;
  if (llama) {
    const found = resolveLlamaCpu(llama, parseLlamaCpu(args.value('llama-cpu', 'native')));
    if (!found.core) throw new Error(found.note);
    llama = found.core;
  }
  const log = (line: string): void => console.error(`[decode] ${line}`);
  const loadLine = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

  const machine = machineInfo();
  const startLoad = loadLine(), startTime = new Date().toISOString();
  const probes: Array<ReadBandwidth & { at: string }> = [];
  const probe = (): number => {
    const bw = measureReadBandwidth(threads, 0.3, 256);
    probes.push({ ...bw, at: new Date().toISOString() });
    return bw.gbps;
  };
  const cases: Case[] = [];
  for (const k of kernels) {
    for (const name of models) for (const dtype of dtypes) for (const v of variants) cases.push(presetCase(name, dtype, k, threads, kv, v));
    for (const file of ggufs) for (const v of variants) cases.push(await ggufCase(file, k, threads, kv, v));
  }
  let last = probe();
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const before = last;
      const p = await pass(c, isProfiled);
      c.ours.push({ ...p, before, after: (last = probe()) });
      if (c.quantShapes && p.profile) {
        const inStep = (p.profile.gemmMs + p.profile.lmHeadMs) / p.profile.numSteps;
        for (const gap of besideGaps) c.beside.push({ gap, inStep, alone: measureQuantGemm(threads, c.quantShapes, 0.5, c.kernelEnv, gap) });
      }
      if (llama && c.gguf && c === cases.find((o) => o.gguf === c.gguf)) {
        const llamaBefore = last;
        const tok = llamaBench(llama, c.gguf, threads, 0, STEPS, 3, ['-ctk', kv, '-ctv', kv]).decodeTokPerS;
        c.llama.push({ tokPerS: tok, cpuPerWall: NaN, before: llamaBefore, after: (last = probe()) });
      }
    }
    log(`round ${r + 1}/${rounds} (load ${loadLine()}): ${cases.map((c) => `${c.label} ${c.kernel} ${c.ours[r].tokPerS.toFixed(1)}${c.llama[r] ? ` (llama ${c.llama[r].tokPerS.toFixed(1)})` : ''}`).join(', ')}; ` +
      `bound ${probes.slice(-cases.length - 1).map((b) => b.gbps.toFixed(1)).join(' ')}`);
  }
  // The one-row GEMMs alone, each between two probes of its own (after the executors are
  // closed: the probes store their own copy of every matrix).
  for (const c of cases) c.ex.close();
  const gemv = new Map<Case, { gbps: number; share: number }>();
  for (const c of cases) {
    const before = probe();
    let gbps: number | undefined, weightBytes = c.bytes.weights;
    if (c.gemvShapes) {
      const isa = c.kernel.startsWith('avx512') ? 'avx512' : c.kernel.startsWith('avx2') ? 'avx2' : 'portable';
      const [f] = measureGemm(isa, threads, c.gemvShapes, [1], 2);
      if (f) gbps = 2 * f.gflops;  // f32: 4 bytes per 2 flops
      weightBytes = c.gemvShapes.reduce((a, s) => a + 4 * s.n * s.k, 0);
    } else if (c.quantShapes) gbps = measureQuantGemm(threads, c.quantShapes, 2, c.kernelEnv).gbps;
    const after = probe();
    if (gbps === undefined) continue;
    gemv.set(c, { gbps, share: gbps / Math.max(before, after) });
    c.gemvAloneMs = (1000 * weightBytes) / (gbps * 1e9);
  }
  const gbpsAll = probes.map((b) => b.gbps);
  console.log(`${cpuLine(machine)}; ${threads} threads; ${rounds} rounds of ${STEPS} steps; KV cache ${kv}; ${startTime} to ${new Date().toISOString()}; load average ${startLoad} at the start, ${loadLine()} at the end; llama.cpp: ${llama ? `${llama.build} tools on ${loadedCpuLibrary(llama)}, llama-bench -p 0 -n ${STEPS} -r 3 -ctk/-ctv ${kv}, the faster of 1 and ${threads} threads` : 'not run'}`);
  console.log(`read bandwidth, ${threads} threads at once, 256 MiB, ${probes.length} probes beside the passes: median ${median(gbpsAll).toFixed(1)} GB/s, range ${Math.min(...gbpsAll).toFixed(1)}-${Math.max(...gbpsAll).toFixed(1)}; ` +
    `each pass's share is over the higher of the probes just before and just after it`);
  console.log(table(cases, gemv));
  if (isProfiled) {
    console.log('\nWhere a token\'s time goes (ms, medians over the rounds; regions as the step runner saw them; binding round trip = the runner\'s gap between steps less the JS time between a result and the next call):\n');
    console.log(breakdownTable(cases));
  }
  if (besideGaps.length) {
    console.log('\nThe step\'s GEMMs and LM head (ms per token, profile) against the same matrices alone run right after each pass, back to back (quant_gemm_probe, 0.5 s; gap: µs the caller spins after each product), medians over the rounds:\n');
    console.log(besideTable(cases));
  }
  const stem = ggufs.length && models.length ? 'decode' : ggufs.length ? 'decode-quant' : `decode-${dtypes.join('+')}`;
  const out = args.value('out', '') || datedResultPath(stem, undefined, new Date(startTime));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({
    date: startTime, machine, threads, kv, probes,
    cases: cases.map((c) => ({ label: c.label, kernel: c.kernel, bytes: c.bytes, heldMiB: c.heldMiB, ours: c.ours, llama: c.llama,
      oursShares: shares(c, c.ours), llamaShares: shares(c, c.llama), gemvAlone: gemv.get(c) ?? null, gemmBeside: c.beside })),
  }, null, 1));
  console.log(`wrote ${out}`);
}

await main();
