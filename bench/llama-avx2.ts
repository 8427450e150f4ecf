/**
 * llama.cpp's CPU backend compiled for AVX2 + FMA only (no AVX-512, no AVX-VNNI), so that an
 * AVX2 kernel of ours can be measured against llama.cpp's AVX2 code on a CPU that has both.
 * Only the `ggml-cpu` library is built (about 10 minutes on 2 cores), from the core build's
 * own source, into `<core build>-avx2`; the core's tools run it from there (withCpuLibrary).
 * The flags are those of ggml's "haswell" CPU variant: SSE4.2 AVX F16C FMA BMI2 AVX2.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { withCpuLibrary, type LlamaCore } from './llama-core.js';

export const AVX2_FLAGS = [
  '-DGGML_NATIVE=OFF', '-DGGML_SSE42=ON', '-DGGML_AVX=ON', '-DGGML_AVX2=ON', '-DGGML_FMA=ON', '-DGGML_F16C=ON', '-DGGML_BMI2=ON',
  '-DGGML_AVX512=OFF', '-DGGML_AVX512_VBMI=OFF', '-DGGML_AVX512_VNNI=OFF', '-DGGML_AVX512_BF16=OFF', '-DGGML_AVX_VNNI=OFF',
];

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

const ISA_OPTIONS = ['GGML_NATIVE', 'GGML_AVX', 'GGML_AVX2', 'GGML_FMA', 'GGML_F16C', 'GGML_BMI2', 'GGML_AVX512', 'GGML_AVX_VNNI', 'GGML_AVX512_VNNI', 'GGML_AVX512_BF16', 'GGML_LLAMAFILE', 'GGML_OPENMP'];

/** "GGML_NATIVE=ON GGML_LLAMAFILE=ON ..." (the ISA options ON; with NATIVE off, the ones OFF too), from its CMake cache. */
export function llamaBuildFlags(build: string): string {
  const cache = cmakeCache(build);
  if (cache.size === 0) return `unknown (no CMakeCache.txt in ${build})`;
  const isNative = cache.get('GGML_NATIVE') === 'ON';
  return ISA_OPTIONS.filter((o) => cache.has(o) && (!isNative || cache.get(o) === 'ON' || o === 'GGML_NATIVE'))
    .map((o) => `${o}=${cache.get(o)}`).join(' ');
}

export const avx2BuildOf = (core: LlamaCore): string => `${core.build}-avx2`;

/** The core's tools on the AVX2-only CPU library beside it, or a note saying how to build it. */
export function findAvx2Core(core: LlamaCore): { core?: LlamaCore; note?: string } {
  const build = avx2BuildOf(core);
  if (existsSync(join(build, 'bin', 'libggml-cpu.so'))) return { core: withCpuLibrary(core, build) };
  return { note: `no AVX2-only llama.cpp CPU library in ${build}: run 'npm run bench:anchor -- --llama-cpu avx2 --build-llama' once (about 10 minutes on 2 cores)` };
}

/** Builds the AVX2-only ggml-cpu beside the core build (once), from the same source. */
export function buildAvx2Core(core: LlamaCore, log: (line: string) => void): LlamaCore {
  const found = findAvx2Core(core).core;
  if (found) return found;
  const source = cmakeCache(core.build).get('CMAKE_HOME_DIRECTORY');
  if (!source || !existsSync(join(source, 'CMakeLists.txt'))) throw new Error(`the llama.cpp build ${core.build} names no source folder in its CMakeCache.txt`);
  const build = avx2BuildOf(core);
  const run = (args: string[]): void => {
    log(`cmake ${args.join(' ')}`);
    execFileSync('cmake', args, { stdio: ['ignore', 'inherit', 'inherit'] });
  };
  run(['-S', source, '-B', build, '-DCMAKE_BUILD_TYPE=Release', ...AVX2_FLAGS, '-DLLAMA_CURL=OFF', '-DLLAMA_BUILD_TESTS=OFF', '-DLLAMA_BUILD_SERVER=OFF', '-DLLAMA_BUILD_EXAMPLES=OFF']);
  run(['--build', build, '--config', 'Release', '-j', String(availableParallelism()), '--target', 'ggml-cpu']);
  return withCpuLibrary(core, build);
}
