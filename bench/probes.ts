/**
 * C++ probes measured in the same run as the figures they scale: the FMA peak (AVX2 and
 * AVX-512 loops of independent vfmadd chains), the read bandwidth (a buffer far past the
 * last-level cache) and the addon's own GEMM kernels timed alone (bench/probes/*.cpp,
 * compiled once into the gitignored bench/.cache/probes with the system C++ compiler).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SOURCES = join(ROOT, 'bench', 'probes');
const CACHE = join(ROOT, 'bench', '.cache', 'probes');
const NATIVE = join(ROOT, 'native', 'src');
const SHARED_SOURCES = ['packed_matrix.cpp', 'thread_pool.cpp', 'aligned.cpp', 'isa.cpp'];

export interface Peaks {
  /** GFLOP/s of f32 FMAs on all threads, per instruction set (null: the CPU lacks it). */
  fmaGflops: { avx2: number | null; avx512: number | null };
  /** Read bandwidth of all threads streaming at once (ReadBandwidth.gbps). */
  readGBs: number;
  threads: number;
}

/** GB/s read from a buffer far past the last-level cache (bench/probes/read_bandwidth.cpp). */
export interface ReadBandwidth {
  /** All threads at once: each pass starts on a barrier and ends with the slowest thread (the bound). */
  gbps: number;
  /** Each thread's best pass, whenever it came, summed (optimistic: the passes need not overlap). */
  gbpsSumOfBest: number;
  /** One thread alone. */
  gbpsOneThread: number;
  threads: number;
}

function newerThan(target: string, sources: string[]): boolean {
  if (!existsSync(target)) return false;
  const built = statSync(target).mtimeMs;
  return sources.every((s) => statSync(s).mtimeMs <= built);
}

/** Path of a built probe; compiles it first when missing or older than its sources. */
function probe(name: string): string {
  const main = join(SOURCES, `${name}.cpp`);
  // The GEMM kernels (f32 and quantized, which gemm.cpp dispatches to), and for the attention probe its kernels.
  const kernelFile = (f: string): boolean => f.endsWith('.cpp') && !f.includes('binding') &&
    (f.startsWith('gemm') || f.startsWith('quant') || (name === 'attention_probe' && (f.startsWith('attention') || f === 'kv_cache.cpp')));
  const extra = name === 'gemm_probe' || name === 'quant_gemm_probe' || name === 'attention_probe'
    ? [...readdirSync(NATIVE).filter(kernelFile), ...SHARED_SOURCES].map((f) => join(NATIVE, f))
    : [];
  const out = join(CACHE, name);
  // Headers and included kernel bodies (quant_simd*.inc) count too: an edit to one alone rebuilds.
  const included = extra.length > 0 ? readdirSync(NATIVE).filter((f) => f.endsWith('.h') || f.endsWith('.inc')).map((f) => join(NATIVE, f)) : [];
  if (newerThan(out, [main, ...extra, ...included])) return out;
  mkdirSync(CACHE, { recursive: true });
  const cxx = process.env.CXX ?? 'c++';
  execFileSync(cxx, ['-O3', '-std=c++17', '-ffp-contract=off', '-fno-math-errno', '-Wno-psabi', '-pthread', `-I${NATIVE}`, '-o', out, main, ...extra], { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

function runJson<T>(name: string, args: Array<string | number>): T[] {
  const text = execFileSync(probe(name), args.map(String), { encoding: 'utf8' });
  return text.trim().split('\n').map((line) => JSON.parse(line) as T);
}

export function measurePeaks(threads: number, seconds = 0.5): Peaks {
  const fma = (isa: 'avx2' | 'avx512'): number | null => {
    const [r] = runJson<{ supported: boolean; gflops?: number }>('fma_peak', [isa, threads, seconds]);
    return r.supported ? r.gflops ?? null : null;
  };
  return { fmaGflops: { avx2: fma('avx2'), avx512: fma('avx512') }, readGBs: measureReadBandwidth(threads, seconds * 2).gbps, threads };
}

export function measureReadBandwidth(threads: number, seconds = 1, mib = 512): ReadBandwidth {
  const [bw] = runJson<ReadBandwidth>('read_bandwidth', [threads, mib, seconds]);
  return { gbps: bw.gbps, gbpsSumOfBest: bw.gbpsSumOfBest, gbpsOneThread: bw.gbpsOneThread, threads };
}

export interface GemmFigure { kernel: string; m: number; gflops: number }

/** A weight's shape: n output features, k input features. */
export interface WeightShape { n: number; k: number }

/** GFLOP/s of the addon's kernel over a list of weights (run in turn, M rows each), per M. */
export function measureGemm(kernel: 'portable' | 'avx2' | 'avx512', threads: number, shapes: readonly WeightShape[], rows: number[], seconds = 0.4): GemmFigure[] {
  const list = shapes.map((s) => `${s.n}x${s.k}`).join(',');
  const out = runJson<{ supported: boolean; kernel?: string; m?: number; gflops?: number }>('gemm_probe', [kernel, threads, seconds, list, ...rows]);
  return out.filter((r) => r.supported).map((r) => ({ kernel: r.kernel!, m: r.m!, gflops: r.gflops! }));
}

/** The FMA peak a kernel's figure is a share of: its own instruction set's (portable: AVX2's, where it runs). */
export function peakFor(kernel: string, peaks: Peaks): number | null {
  if (kernel.startsWith('avx512')) return peaks.fmaGflops.avx512;
  return peaks.fmaGflops.avx2;
}

/** One quantized matrix as the executor fuses it: its parts (block type, output rows) in order, k inputs. */
export interface QuantMatrixShape { parts: Array<{ type: string; rows: number }>; k: number }

/** The quantized probe's figures: GB/s and ms of one pass (every matrix once, in turn) at its best, mean and median pass. */
export interface QuantGemmFigures { kernel: string; gbps: number; gbpsMean: number; gbpsMedian: number; msBest: number; msMean: number; msMedian: number; passes: number; gapUs: number }

/**
 * GB/s (stored weight bytes per second) of the addon's quantized kernel over a list of
 * matrices run in turn, one row each (bench/probes/quant_gemm_probe.cpp); the kernel is the
 * one the executor picks (NANO_SERVING_KERNEL forces one). gapUs: the calling thread spins
 * that long after each product (the step's row work between products; not counted in the figures).
 */
export function measureQuantGemm(threads: number, shapes: readonly QuantMatrixShape[], seconds = 0.4, kernelEnv?: string, gapUs = 0): QuantGemmFigures {
  const list = shapes.map((s) => `${s.parts.map((p) => `${p.type}:${p.rows}`).join('+')}x${s.k}`).join(',');
  const env = { ...process.env };
  if (kernelEnv) env.NANO_SERVING_KERNEL = kernelEnv;
  const text = execFileSync(probe('quant_gemm_probe'), [threads, seconds, list, gapUs].map(String), { encoding: 'utf8', env });
  return JSON.parse(text.trim()) as QuantGemmFigures;
}
