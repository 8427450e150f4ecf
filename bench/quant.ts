/**
 * Quantized GGUF bench (issue #14): the same file, the same CPU, N threads (default 2), side
 * by side with llama.cpp's C++ core (llama-bench: pp512, tg64; llama-batched-bench: 32
 * parallel sequences) and with node-llama-cpp, in rounds that alternate the three; medians.
 * Every side runs in its own process, whose peak resident memory (/usr/bin/time) is reported.
 * Every side keeps its KV cache in the same element type (--kv, default f16: llama.cpp's
 * default; ours kvDtype, llama.cpp -ctk/-ctv, node-llama-cpp experimentalKvCache*Type).
 *
 *   npm run build:ts && flock /tmp/nano-bench.lock node dist/bench/quant.js \
 *     [--shapes medium,1b] [--formats q4_k_m,q8_0] [--rounds 2] [--threads 2] [--kv f16|bf16|f32]
 *     [--sides ours,core,node] [--dir /tmp/nano-quant-bench]
 *     [--kernel auto|avx2|avx-vnni|avx512-vnni|portable] [--llama-cpu native|avx2|avx512]
 *
 * llama.cpp's binaries: NANO_LLAMA_CPP_BUILD's bin/ or bench/.cache (bench/llama-core.ts);
 * without them the core columns are left out. --kernel forces our quantized path (it sets
 * NANO_SERVING_KERNEL for our processes; info().quantKernel is reported). --llama-cpu avx2 runs
 * llama.cpp's tools on its CPU library compiled for AVX2 + FMA only (bench/llama-cpu.ts:
 * `<core build>-avx2`), to compare like with like against --kernel avx2 on a CPU with more;
 * avx512 on one for AVX-512 with VNNI and BF16 and no AMX (`<core build>-avx512`).
 * node-llama-cpp's prebuilt picks its own CPU code, so it is refused with either. Writes
 * bench/results/quant-<date>-<shapes>-kv-<kv>[-<kernel>][-llama-<cpu>].{json,md}.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { QuantScheme } from '../src/models/quant-scheme.js';
import type { KvDtype } from '../src/native/binding.js';
import { loadNative } from '../src/native/load.js';
import { LLAMA_CPUS, llamaBuildFlags, resolveLlamaCpu } from './llama-cpu.js';
import { findLlamaCore, loadedCpuLibrary, type LlamaCore } from './llama-core.js';
import { ensureQuantFile, type QuantShape } from './quant-files.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const KERNELS = ['auto', 'avx2', 'avx-vnni', 'avx512-vnni', 'portable'] as const;

/** rssMiB: peak resident memory of the process; residentMiB (ours): after load. */
interface Measured { pp512?: number; tg?: number; par32?: number; rssMiB: number; residentMiB?: number; kernel?: string }
interface Row { shape: QuantShape; format: QuantScheme; fileMiB: number; ours: Measured[]; core: Measured[]; node: Measured[] }

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
}

/** A comma list of which every item is one of `allowed`; anything else is refused by name. */
function listArg<T extends string>(name: string, fallback: string, allowed: readonly T[]): T[] {
  const items = arg(name, fallback).split(',');
  for (const item of items) if (!(allowed as readonly string[]).includes(item)) throw new RangeError(`--${name}: '${item}' is not one of ${allowed.join(', ')}`);
  return items as T[];
}

const SIDES = ['ours', 'core', 'node'] as const;
type Side = (typeof SIDES)[number];

/** Runs and returns stdout and the peak RSS (from /usr/bin/time on stderr). */
function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): { stdout: string; rssMiB: number } {
  const r = spawnSync('/usr/bin/time', ['-f', 'RSS_KB %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 26, env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const kb = /RSS_KB (\d+)/.exec(r.stderr);
  return { stdout: r.stdout, rssMiB: kb ? Number(kb[1]) / 1024 : NaN };
}

function ours(file: string, threads: number, kv: KvDtype, kernel: string): Measured {
  const env = kernel === 'auto' ? process.env : { ...process.env, NANO_SERVING_KERNEL: kernel };
  const r = measure(process.execPath, ['--expose-gc', join(HERE, 'quant-ours.js'), file, String(threads), kv], env);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { pp512: number; tg: number; par32: number; residentMiB: number; kernel: string };
  return { ...j, rssMiB: r.rssMiB };
}

function node(file: string, threads: number, kv: KvDtype): Measured {
  const r = measure(process.execPath, [join(HERE, 'quant-node.js'), file, String(threads), kv]);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { pp512: number; tg: number };
  return { ...j, rssMiB: r.rssMiB };
}

/** llama.cpp's tools with their default flash attention (auto) and the KV cache in `kv`. */
function core(llama: LlamaCore, file: string, threads: number, kv: KvDtype): Measured {
  const cache = ['-ctk', kv, '-ctv', kv];
  const bench = measure(llama.tool('llama-bench'), ['-m', file, '-t', String(threads), '-p', '512', '-n', '64', '-r', '1', ...cache, '-o', 'json'], llama.env);
  const tests = JSON.parse(bench.stdout) as Array<{ n_prompt: number; n_gen: number; avg_ts: number }>;
  const batched = measure(llama.tool('llama-batched-bench'), ['-m', file, '-t', String(threads), '-c', '8192', '-b', '2048', '-ub', '512',
    '-npp', '32', '-ntg', '24', '-npl', '32', ...cache, '--output-format', 'jsonl'], llama.env);
  const line = batched.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  return {
    pp512: tests.find((t) => t.n_prompt === 512)?.avg_ts,
    tg: tests.find((t) => t.n_gen === 64)?.avg_ts,
    par32: line ? (JSON.parse(line) as { speed_tg: number }).speed_tg : NaN,
    rssMiB: Math.max(bench.rssMiB, batched.rssMiB),
  };
}

/** A side's measurement, or NaNs (and the reason on stderr) when its process failed. */
function attempt(side: string, f: () => Measured): Measured {
  try {
    return f();
  } catch (err) {
    console.error(`${side} failed: ${String(err).slice(0, 2000)}`);
    return { pp512: NaN, tg: NaN, par32: NaN, rssMiB: NaN };
  }
}

const median = (xs: Array<number | undefined>): number => {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  return v.length ? (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2) : NaN;
};

function cpuLine(): string {
  const info = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.*)/.exec(info)?.[1] ?? 'unknown CPU';
  const flags = new Set((/flags\s*:\s*(.*)/.exec(info)?.[1] ?? '').split(' '));
  const sets = ['avx2', 'fma', 'f16c', 'avx_vnni', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx512_bf16'].filter((f) => flags.has(f));
  return `${model}, ${sets.join(' ')}`;
}

const loadLine = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

function table(rows: Row[], bandwidth: number, hasCore: boolean, hasNode: boolean): string {
  const f = (x: number, d = 0): string => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const lines = [
    `| shape | file | MiB | measure | ours | llama.cpp core |${hasNode ? ' node-llama-cpp |' : ''} ours / core |`,
    `|---|---|---:|---|---:|---:|${hasNode ? '---:|' : ''}---:|`,
  ];
  const nodeCell = (text: string): string => (hasNode ? ` ${text} |` : '');
  for (const r of rows) {
    const m = (side: Measured[], key: 'pp512' | 'tg' | 'par32'): number => median(side.map((s) => s[key]));
    const rss = (side: Measured[]): number => median(side.map((s) => s.rssMiB));
    const resident = (side: Measured[]): number => median(side.map((s) => s.residentMiB));
    const bound = (bandwidth * 1e9) / (r.fileMiB * 1048576);
    for (const [key, label] of [['pp512', 'prefill 512, tok/s'], ['tg', `decode 1 stream, tok/s (bound ${f(bound)})`], ['par32', '32 concurrent, output tok/s']] as const) {
      const o = m(r.ours, key), c = hasCore ? m(r.core, key) : NaN, n = key === 'par32' ? NaN : m(r.node, key);
      lines.push(`| ${r.shape} | ${r.format} | ${f(r.fileMiB)} | ${label} | ${f(o, 1)} | ${f(c, 1)} |${nodeCell(f(n, 1))} ${f(o / c, 2)}x |`);
    }
    lines.push(`| ${r.shape} | ${r.format} | | resident MiB (ours after load / peak; others peak) | ${f(resident(r.ours))} / ${f(rss(r.ours))} | ${hasCore ? f(rss(r.core)) : '-'} |${nodeCell(f(rss(r.node)))} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const shapes = arg('shapes', 'medium,1b').split(',') as QuantShape[];
  const formats = arg('formats', 'q4_k_m,q8_0').split(',') as QuantScheme[];
  const rounds = Number(arg('rounds', '2')), threads = Number(arg('threads', '2'));
  const [kv] = listArg<KvDtype>('kv', 'f16', ['f16', 'bf16', 'f32']);
  const [kernel] = listArg('kernel', 'auto', KERNELS);
  const [llamaCpu] = listArg('llama-cpu', 'native', LLAMA_CPUS);
  const sides = new Set<Side>(listArg('sides', llamaCpu !== 'native' ? 'ours,core' : SIDES.join(','), SIDES));
  if (llamaCpu !== 'native' && sides.has('node')) throw new RangeError(`--llama-cpu ${llamaCpu}: node-llama-cpp's prebuilt picks its own CPU code; leave 'node' out of --sides`);
  const dir = arg('dir', '/tmp/nano-quant-bench');
  const startLoad = loadLine();
  let { core: llama, note } = findLlamaCore();
  if (llama) ({ core: llama, note } = resolveLlamaCpu(llama, llamaCpu));
  const hasCore = sides.has('core') && llama !== undefined;
  if (sides.has('core') && !hasCore) console.warn(`${note}: the core columns are left out`);
  const llamaLine = hasCore ? `llama.cpp ${llama!.build} tools on ${loadedCpuLibrary(llama!)} (${llamaBuildFlags(llama!.cpuBuild)})` : 'no llama.cpp core';
  const bandwidth = loadNative().quant.readBandwidth(512, threads);
  const rows: Row[] = [];
  for (const shape of shapes) {
    for (const format of formats) {
      const file = ensureQuantFile(dir, shape, format);
      const row: Row = { shape, format, fileMiB: statSync(file).size / 1048576, ours: [], core: [], node: [] };
      for (let r = 0; r < rounds; r++) {
        if (sides.has('ours')) row.ours.push(attempt('ours', () => ours(file, threads, kv, kernel)));
        if (hasCore) row.core.push(attempt('llama.cpp core', () => core(llama!, file, threads, kv)));
        if (sides.has('node')) row.node.push(attempt('node-llama-cpp', () => node(file, threads, kv)));
        console.log(`${shape} ${format} round ${r + 1} (load ${loadLine()}): ours ${JSON.stringify(row.ours.at(-1))} core ${JSON.stringify(row.core.at(-1))} node ${JSON.stringify(row.node.at(-1))}`);
      }
      rows.push(row);
    }
  }
  const kernels = [...new Set(rows.flatMap((r) => r.ours.map((o) => o.kernel)).filter(Boolean))].join(', ') || '-';
  const header = `CPU: ${cpuLine()}; ${threads} threads; our kernels ${kernels} (--kernel ${kernel}); ${llamaLine}; KV cache ${kv} on every side (llama.cpp: -ctk/-ctv ${kv}, flash attention auto); read bandwidth ${bandwidth.toFixed(1)} GB/s (${threads} threads, 512 MiB); ${rounds} alternating rounds, medians; sides ${[...sides].join(', ')}; load average ${startLoad} at the start, ${loadLine()} at the end.`;
  const md = `${header}\n\n${table(rows, bandwidth, hasCore, sides.has('node'))}\n`;
  console.log(md);
  const stamp = new Date().toISOString().slice(0, 10);
  const suffix = `${kernel === 'auto' ? '' : `-${kernel}`}${llamaCpu === 'native' ? '' : `-llama-${llamaCpu}`}`;
  const out = join(HERE, '..', '..', 'bench', 'results', `quant-${stamp}-${shapes.join('+')}-kv-${kv}${suffix}`);
  writeFileSync(`${out}.json`, JSON.stringify({ header, bandwidth, rows }, null, 2));
  writeFileSync(`${out}.md`, md);
}

void main();
