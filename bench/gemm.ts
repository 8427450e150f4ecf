/**
 * GEMM bench: the addon's f32 kernels alone (bench/probes/gemm_probe.cpp links them) on the
 * linear layers of the small and medium presets, prefill (M = 512) and batched decode
 * (M = 32, 64) and single rows, and the LM head (vocab x hidden: the sampled rows only, so
 * batched decode and single rows), each figure as a share of the FMA peak of its own
 * instruction set measured in the same run (AVX2 and AVX-512 peaks differ on Zen 5). The
 * 'block' rows re-run one block's weights, which stay in the last-level cache (medium's are
 * 28 MB); the 'all layers' rows run every block's layers, distinct weights, as a batched decode
 * step does (medium: 340 MB, streamed from DRAM). Writes bench/results/gemm-DATE.json (-2, -3,
 * ... when taken), or --out FILE.
 *   npm run bench:gemm [-- --threads N] [-- --quick] [-- --rounds N] [-- --kernel avx2[,avx512]] [-- --out FILE]
 * --rounds N runs the whole table N times and keeps each row's best (a shared machine's load
 * takes a core away for seconds at a time).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { presetConfig, type PresetName } from '../src/models/presets.js';
import { BenchArgError, benchArgs } from './args.js';
import { cpuLine, machineInfo } from './machine.js';
import { datedResultPath } from './result-path.js';
import { measureGemm, measurePeaks, peakFor, type GemmFigure, type Peaks, type WeightShape } from './probes.js';

const BLOCK_ROWS = [512, 64, 32, 1];
const HEAD_ROWS = [64, 32, 1];
const ALL_LAYERS_ROWS = [32];
const KERNELS = ['portable', 'avx2', 'avx512'] as const;

/**
 * 'block': one block's linear layers (qkv, attention out, gate|up, down); 'all layers': those of
 * every block, distinct weights; 'lm head': the output head.
 */
export type GemmWeights = 'block' | 'all layers' | 'lm head';
type Kernel = (typeof KERNELS)[number];

export interface GemmRow extends GemmFigure { model: PresetName; weights: GemmWeights; threads: number; percentOfPeak: number | null }

function weightShapes(model: PresetName): Record<GemmWeights, WeightShape[]> {
  const c = presetConfig(model);
  const hidden = c.hiddenSize, q = c.numHeads * c.headDim, ffn = c.intermediateSize;
  const block = [{ n: q + 2 * c.numKvHeads * c.headDim, k: hidden }, { n: hidden, k: q }, { n: 2 * ffn, k: hidden }, { n: hidden, k: ffn }];
  const all = Array.from({ length: c.numLayers }, () => block).flat();
  return { block, 'all layers': all, 'lm head': [{ n: c.vocabSize, k: hidden }] };
}

const ROWS: Record<GemmWeights, number[]> = { block: BLOCK_ROWS, 'all layers': ALL_LAYERS_ROWS, 'lm head': HEAD_ROWS };

export function gemmRows(models: PresetName[], threads: number, peaks: Peaks, seconds: number, withHead = true,
  kernels: readonly Kernel[] = KERNELS): GemmRow[] {
  const rows: GemmRow[] = [];
  for (const model of models) {
    const shapes = weightShapes(model);
    for (const weights of (withHead ? ['block', 'all layers', 'lm head'] : ['block']) as GemmWeights[]) {
      for (const kernel of kernels) {
        for (const f of measureGemm(kernel, threads, shapes[weights], ROWS[weights], seconds)) {
          const peak = peakFor(f.kernel, peaks);
          rows.push({ ...f, model, weights, threads, percentOfPeak: peak ? (100 * f.gflops) / peak : null });
        }
      }
    }
  }
  return rows;
}

export function peaksLine(p: Peaks): string {
  const f = (x: number | null): string => (x === null ? 'n/a' : `${x.toFixed(0)} GFLOP/s`);
  return `FMA peak (${p.threads} threads): AVX2 ${f(p.fmaGflops.avx2)}, AVX-512 ${f(p.fmaGflops.avx512)}; read bandwidth ${p.readGBs.toFixed(1)} GB/s`;
}

export function gemmTable(rows: GemmRow[]): string {
  const lines = ['| model | weights | kernel | M | GFLOP/s | % of its FMA peak |', '|---|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.model} | ${r.weights} | ${r.kernel} | ${r.m} | ${r.gflops.toFixed(1)} | ${r.percentOfPeak === null ? 'n/a' : r.percentOfPeak.toFixed(0) + ' %'} |`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = benchArgs({ threads: 'value', quick: 'flag', rounds: 'value', kernel: 'value', out: 'value' });
  const threads = args.int('threads', Math.min(2, availableParallelism()));
  const quick = args.flag('quick');
  const rounds = args.int('rounds', 1);
  const kernels = args.list('kernel', KERNELS, KERNELS.join(','));
  if (kernels.length === 0) throw new BenchArgError(`--kernel takes ${KERNELS.join(', ')} (comma-separated)`);
  const out = args.value('out', '') || datedResultPath('gemm');
  const machine = machineInfo();
  const peaks = measurePeaks(threads);
  const loadBefore = loadavg()[0];
  let rows: GemmRow[] = [];
  for (let round = 0; round < rounds; round++) {
    const next = gemmRows(quick ? ['small'] : ['small', 'medium'], threads, peaks, quick ? 0.2 : 0.6, true, kernels);
    rows = round === 0 ? next : rows.map((r, i) => (next[i].gflops > r.gflops ? next[i] : r));
  }
  const loadAfter = loadavg()[0];
  const after = measurePeaks(threads);  // again after: a shared machine can change under the run
  console.log(`${cpuLine(machine)}; best of ${rounds} round(s); load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after`);
  console.log(`${peaksLine(peaks)} (before); ${peaksLine(after)} (after)`);
  console.log(gemmTable(rows));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), machine, threads, rounds, loadBefore, loadAfter, peaks, peaksAfter: after, rows }, null, 1));
  console.log(`wrote ${out}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
