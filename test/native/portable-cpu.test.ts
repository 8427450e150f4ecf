/**
 * NANO_SERVING_KERNEL=portable runs what a CPU with no AVX (so neither AVX2 nor AVX-512, nor FMA
 * or F16C) runs, on every compute path. Three proofs:
 *   1. the addon has no CPU-picked builds (no IFUNC symbol: target_clones or ifunc resolvers pick
 *      by the CPU, not by the kernel), no weak (COMDAT) function with AVX-family instructions
 *      (one could stand in for a baseline copy), and the objects of its sources without a target
 *      pragma hold such instructions only in functions named as AVX builds (ops', sampling's,
 *      the F16C KV store);
 *   2. a forced-portable engine run over every kernel family (f32 and quantized GEMMs, the
 *      activation quantizer, attention, the f32 / f16 / bf16 KV store, row ops, sampling) records
 *      only the 'portable' build of each (clonesUsed: each build marks itself as it runs);
 *   3. under qemu-x86_64 with a CPU model without AVX (Nehalem: SSE4.2), where any AVX, FMA or
 *      F16C instruction is an illegal instruction, the engine picks portable by itself, runs the
 *      same cases and gives bit for bit the tokens and logprobs of the forced-portable run here.
 * And what the paths give against each other: AVX2 and AVX-512 the same bits; portable the same
 * bits as they with quantized weights, and with f32 / bf16 weights the same greedy tokens
 * (portable multiplies then adds where their GEMMs fuse: logprobs close, not equal).
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CASES, fingerprint, type Fingerprint } from '../../bench/kernel-fingerprint.js';
import type { KernelBuild, KernelFamily } from '../../src/native/binding.js';
import { ensureDist, ROOT } from '../dist-build.js';
import { canRun } from './cpu.js';

const ADDON = join(ROOT, 'build', 'Release', 'nano_serving.node');
const OBJECTS = join(ROOT, 'build', 'CMakeFiles', 'nano_serving.dir', 'src');
const FAMILIES: KernelFamily[] = ['gemm', 'quantGemm', 'quantActs', 'attention', 'kvStore', 'rowOps', 'sampling'];
const run = promisify(execFile);

const saved = process.env.NANO_SERVING_KERNEL;
afterEach(() => {
  if (saved === undefined) delete process.env.NANO_SERVING_KERNEL;
  else process.env.NANO_SERVING_KERNEL = saved;
});

async function forced(kernel: string): Promise<Fingerprint> {
  process.env.NANO_SERVING_KERNEL = kernel;
  return fingerprint();
}

function has(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/** Functions (demangled) holding AVX-family instructions (VEX / EVEX encoded: mnemonics v*), and the weak ones. */
function avxFunctions(file: string): { avx: Set<string>; weak: Set<string> } {
  const weak = new Set<string>();
  for (const line of execFileSync('nm', ['-C', '--defined-only', file], { encoding: 'utf8', maxBuffer: 1 << 28 }).split('\n')) {
    const m = /^[0-9a-f]+ ([WwVv]) (.*)$/.exec(line);
    if (m) weak.add(m[2]);
  }
  const avx = new Set<string>();
  let current = '';
  for (const line of execFileSync('objdump', ['-d', '--no-show-raw-insn', '-C', file], { encoding: 'utf8', maxBuffer: 1 << 28 }).split('\n')) {
    const head = /^[0-9a-f]+ <(.*)>:$/.exec(line);
    if (head) current = head[1];
    else if (/^\s+[0-9a-f]+:\s+v/.test(line)) avx.add(current);
  }
  return { avx, weak };
}

describe.skipIf(process.arch !== 'x64')('the portable kernel runs no AVX, FMA or F16C code', () => {
  // The plain build's files (under test:asan the addon in use is another build).
  it.skipIf(!has('objdump') || !has('nm') || !has('readelf') || !!process.env.NANO_ASAN)('the addon picks no build by the CPU, and its baseline sources hold only named AVX builds', () => {
    const symbols = execFileSync('readelf', ['-sW', ADDON], { encoding: 'utf8', maxBuffer: 1 << 28 });
    expect(symbols.split('\n').filter((l) => / IFUNC /.test(l)), 'IFUNC symbols (target_clones / ifunc)').toEqual([]);
    const { avx, weak } = avxFunctions(ADDON);
    expect([...avx].filter((f) => weak.has(f)), 'weak functions with AVX instructions').toEqual([]);
    const sources = readdirSync(join(ROOT, 'native', 'src')).filter((f) => f.endsWith('.cpp'));
    const baseline = sources.filter((f) => !readFileSync(join(ROOT, 'native', 'src', f), 'utf8').includes('#pragma GCC target'));
    expect(baseline).toContain('gemm_portable.cpp');
    const stray: string[] = [];
    for (const source of baseline) {
      const object = join(OBJECTS, `${source}.o`);
      expect(existsSync(object), object).toBe(true);
      for (const f of avxFunctions(object).avx) if (!/Avx2|Avx512|F16c/.test(f.replaceAll('(anonymous namespace)::', '').split('(')[0])) stray.push(`${source}: ${f.slice(0, 120)}`);
    }
    expect(stray).toEqual([]);
  }, 120_000);

  let portable: Fingerprint;
  beforeAll(async () => {
    portable = await forced('portable');
  }, 120_000);

  it('a forced-portable run records only the portable build of every kernel family', () => {
    const want = Object.fromEntries(FAMILIES.map((f) => [f, ['portable']]));
    expect(portable.clonesUsed).toEqual(want);
    expect(portable.cases.map((c) => c.name)).toEqual(CASES.map((c) => c.name));
  });

  it('AVX2 and AVX-512 give each other\'s bits, the portable bits with quantized weights, the portable greedy tokens with f32 / bf16 ones; each records its own builds', async () => {
    const paths: Array<[string, Partial<Record<KernelFamily, KernelBuild[]>>]> = [
      ['avx2', { gemm: ['avx2'], quantGemm: ['avx2'], quantActs: ['avx2'], attention: ['avx2'], kvStore: ['portable', 'f16c'], rowOps: ['avx2'], sampling: ['avx2'] }],
      ['avx512', { gemm: ['avx512'], quantActs: ['avx2'], attention: ['avx512'], kvStore: ['portable', 'f16c'], rowOps: ['avx512'], sampling: ['avx512'] }],
    ];
    const runs = new Map<string, Fingerprint>();
    for (const [kernel, builds] of paths.filter(([k]) => canRun(k as 'avx2' | 'avx512'))) {
      const other = await forced(kernel);
      runs.set(kernel, other);
      for (const family of Object.keys(builds) as KernelFamily[]) expect(other.clonesUsed[family], `${kernel} ${family}`).toEqual(builds[family]);
      for (const [i, c] of portable.cases.entries()) {
        const theirs = other.cases[i].requests;
        // Quantized weights: the GEMMs are exact integer sums folded in the same order on every
        // path, and attention does the same IEEE operations per lane: the same bits.
        if (c.name.includes('.gguf')) expect(theirs, `${kernel}: ${c.name}`).toEqual(c.requests);
        // f32 / bf16 weights: the SIMD GEMMs fuse multiply and add, portable rounds twice.
        for (const r of [0, 1]) {  // the greedy requests
          expect(theirs[r].tokens, `${kernel}: ${c.name}, request ${r}`).toEqual(c.requests[r].tokens);
          const drift = Math.max(...c.requests[r].logprobs.map((l, j) => Math.abs(l - theirs[r].logprobs[j])));
          expect(drift, `${kernel}: ${c.name}, request ${r}`).toBeLessThan(1e-3);
        }
      }
    }
    if (runs.size === 2) expect(runs.get('avx2')!.cases, 'AVX2 against AVX-512').toEqual(runs.get('avx512')!.cases);
  }, 240_000);
});

const QEMU = ['qemu-x86_64-static', 'qemu-x86_64'].find(has);
/** SSE4.2, no AVX: what a CPU of 2008-2010 (and some small cores since) has. */
const NO_AVX_CPU = 'Nehalem-v1';

// qemu-user comes from Debian's qemu-user-static (or qemu-user) package; .ci/run installs it.
// Not under test:asan (the ASan runtime preloaded into an emulated node).
describe.skipIf(process.arch !== 'x64' || !QEMU || !has('c++') || !!process.env.NANO_ASAN)('on an emulated CPU without AVX (qemu-x86_64, skipped without it)', () => {
  const bin = join(ROOT, 'dist', 'bench', 'kernel-fingerprint.js');
  beforeAll(() => ensureDist(bin), 180_000);

  it('the emulator really refuses AVX, FMA and F16C on this CPU model', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nano-avx-'));
    const probes: Record<string, string> = {
      avx: 'asm volatile("vxorps %%ymm0, %%ymm0, %%ymm0" ::: "xmm0");',
      fma: 'asm volatile("vfmadd231ps %%xmm0, %%xmm0, %%xmm0" ::: "xmm0");',
      f16c: 'asm volatile("vcvtph2ps %%xmm0, %%xmm0" ::: "xmm0");',
      sse4: 'asm volatile("pminsd %%xmm0, %%xmm0" ::: "xmm0");',
    };
    for (const [name, body] of Object.entries(probes)) {
      const source = join(dir, `${name}.cpp`);
      writeFileSync(source, `int main() { ${body} return 0; }\n`);
      execFileSync('c++', ['-O1', '-o', join(dir, name), source]);
      const r = spawnSync(QEMU!, ['-cpu', NO_AVX_CPU, join(dir, name)]);
      if (name === 'sse4') expect(r.status, name).toBe(0);
      else expect(r.signal ?? `exit ${r.status}`, name).toBe('SIGILL');
    }
  });

  it('the engine picks portable there by itself and gives the forced-portable run\'s bits', async () => {
    process.env.NANO_SERVING_KERNEL = 'portable';
    const here = await fingerprint();
    const env = { ...process.env };
    delete env.NANO_SERVING_KERNEL;  // auto: the emulated CPU has no AVX2, so portable
    const { stdout } = await run(QEMU!, ['-cpu', NO_AVX_CPU, process.execPath, bin], { cwd: ROOT, env, timeout: 540_000, maxBuffer: 1 << 26 });
    const emulated = JSON.parse(stdout) as Fingerprint;
    expect(emulated.clonesUsed).toEqual(Object.fromEntries(FAMILIES.map((f) => [f, ['portable']])));
    expect(emulated.cases).toEqual(here.cases);
  }, 600_000);
});
