/**
 * llama.cpp's CPU backend compiled for one instruction set, so that a kernel of ours can be
 * measured against llama.cpp's code for the same ISA on a CPU that has more:
 *   avx2    AVX2 + FMA only (no AVX-512, no AVX-VNNI): ggml's "haswell" variant, SSE4.2 AVX
 *           F16C FMA BMI2 AVX2;
 *   avx512  AVX-512 F/BW/VL/DQ with VBMI, VNNI and BF16, AVX-VNNI, and no AMX. On the Intel
 *           Xeon (family 6 model 167) of 2026-12-04 the native build's AMX matmul died with
 *           SIGSEGV at `ldtilecfg`; this variant is that CPU's llama.cpp minus AMX.
 * Only the `ggml-cpu` library is built (2-10 minutes on 2 cores), from the core build's own
 * source, into `<core build>-<variant>`; the core's tools run it from there (withCpuLibrary).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { withCpuLibrary, type LlamaCore } from './llama-core.js';

const BASE_FLAGS = ['-DGGML_NATIVE=OFF', '-DGGML_SSE42=ON', '-DGGML_AVX=ON', '-DGGML_AVX2=ON', '-DGGML_FMA=ON', '-DGGML_F16C=ON', '-DGGML_BMI2=ON'];
const NO_AMX = ['-DGGML_AMX_TILE=OFF', '-DGGML_AMX_INT8=OFF', '-DGGML_AMX_BF16=OFF'];

/** The CMake flags of each variant (beside the release / no-tools flags every build gets). */
export const CPU_VARIANT_FLAGS = {
  avx2: [...BASE_FLAGS, '-DGGML_AVX512=OFF', '-DGGML_AVX512_VBMI=OFF', '-DGGML_AVX512_VNNI=OFF', '-DGGML_AVX512_BF16=OFF', '-DGGML_AVX_VNNI=OFF', ...NO_AMX],
  avx512: [...BASE_FLAGS, '-DGGML_AVX512=ON', '-DGGML_AVX512_VBMI=ON', '-DGGML_AVX512_VNNI=ON', '-DGGML_AVX512_BF16=ON', '-DGGML_AVX_VNNI=ON', ...NO_AMX],
} as const;
export type CpuVariant = keyof typeof CPU_VARIANT_FLAGS;
/** `--llama-cpu` values: the core build's own library, or one variant. */
export const LLAMA_CPUS = ['native', 'avx2', 'avx512'] as const;
export type LlamaCpu = (typeof LLAMA_CPUS)[number];

export function parseLlamaCpu(value: string): LlamaCpu {
  if (!(LLAMA_CPUS as readonly string[]).includes(value)) throw new RangeError(`--llama-cpu must be one of ${LLAMA_CPUS.join(', ')}, got '${value}'`);
  return value as LlamaCpu;
}

/** The CMake cache entries of a build folder (NAME -> value). */
function cmakeCache(build: string): Map<string, string> {
  const entries = new Map<string, string>();
  const file = join(build, 'CMakeCache.txt');
  if (!existsSync(file)) return entries;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Za-z0-9_]+):[A-Z]+=(.*)$/.exec(line);
    if (m) entries.set(m[1], m[2]);
  }
  return entries;
}

const ISA_OPTIONS = ['GGML_NATIVE', 'GGML_AVX', 'GGML_AVX2', 'GGML_FMA', 'GGML_F16C', 'GGML_BMI2', 'GGML_AVX512', 'GGML_AVX512_VBMI', 'GGML_AVX_VNNI', 'GGML_AVX512_VNNI', 'GGML_AVX512_BF16', 'GGML_AMX_INT8', 'GGML_LLAMAFILE', 'GGML_OPENMP'];

/** "GGML_NATIVE=ON GGML_LLAMAFILE=ON ..." (the ISA options ON; with NATIVE off, the ones OFF too), from its CMake cache. */
export function llamaBuildFlags(build: string): string {
  const cache = cmakeCache(build);
  if (cache.size === 0) return `unknown (no CMakeCache.txt in ${build})`;
  const isNative = cache.get('GGML_NATIVE') === 'ON';
  return ISA_OPTIONS.filter((o) => cache.has(o) && (!isNative || cache.get(o) === 'ON' || o === 'GGML_NATIVE'))
    .map((o) => `${o}=${cache.get(o)}`).join(' ');
}

export const variantBuildOf = (core: LlamaCore, variant: CpuVariant): string => `${core.build}-${variant}`;

/** The core's tools on a variant's CPU library beside it, or a note saying how to build it. */
export function findCpuVariant(core: LlamaCore, variant: CpuVariant): { core?: LlamaCore; note?: string } {
  const build = variantBuildOf(core, variant);
  if (existsSync(join(build, 'bin', 'libggml-cpu.so'))) return { core: withCpuLibrary(core, build) };
  return { note: `no ${variant} llama.cpp CPU library in ${build}: run 'npm run bench:anchor -- --llama-cpu ${variant} --build-llama' once (2-10 minutes on 2 cores)` };
}

/** Builds a variant's ggml-cpu beside the core build (once), from the same source. */
export function buildCpuVariant(core: LlamaCore, variant: CpuVariant, log: (line: string) => void): LlamaCore {
  const found = findCpuVariant(core, variant).core;
  if (found) return found;
  const source = cmakeCache(core.build).get('CMAKE_HOME_DIRECTORY');
  if (!source || !existsSync(join(source, 'CMakeLists.txt'))) throw new Error(`the llama.cpp build ${core.build} names no source folder in its CMakeCache.txt`);
  const build = variantBuildOf(core, variant);
  const run = (args: string[]): void => {
    log(`cmake ${args.join(' ')}`);
    execFileSync('cmake', args, { stdio: ['ignore', 'inherit', 'inherit'] });
  };
  run(['-S', source, '-B', build, '-DCMAKE_BUILD_TYPE=Release', ...CPU_VARIANT_FLAGS[variant], '-DLLAMA_CURL=OFF', '-DLLAMA_BUILD_TESTS=OFF', '-DLLAMA_BUILD_SERVER=OFF', '-DLLAMA_BUILD_EXAMPLES=OFF']);
  run(['--build', build, '--config', 'Release', '-j', String(availableParallelism()), '--target', 'ggml-cpu']);
  return withCpuLibrary(core, build);
}

/**
 * The core as `--llama-cpu` asks: itself for 'native', else its tools on that variant's library
 * (built first when `isBuilding`, logging the cmake lines; else a note when it is absent).
 */
export function resolveLlamaCpu(core: LlamaCore, cpu: LlamaCpu, isBuilding = false, log: (line: string) => void = () => {}): { core?: LlamaCore; note?: string } {
  if (cpu === 'native') return { core };
  return isBuilding ? { core: buildCpuVariant(core, cpu, log) } : findCpuVariant(core, cpu);
}
