/** The single-stream decode bench's tables (bench/decode.ts): the figures per case and where a token's time goes. */
import type { StepProfileFigures } from '../src/native/binding.js';
import type { QuantGemmFigures } from './probes.js';
import { median, passShares, shareCell, type StepBytes } from './decode-bound.js';

/** One pass: tok/s, CPU / wall, the probes beside it, and (ours) the step profile and the JS time between steps. */
export interface Pass {
  tokPerS: number; cpuPerWall: number; before: number; after: number; profile?: StepProfileFigures;
  /** ms of JS between a step's result and the next call, mean per step. */
  jsMs?: number;
}

/** What the tables need of a case. */
export interface DecodeRow {
  label: string;
  kernel: string;
  bytes: StepBytes;
  /** The executor's weights and KV pool. */
  heldMiB: number;
  ours: Pass[];
  llama: Pass[];
  /** ms the one-row GEMMs alone take for one token's matrices, at their probe's GB/s. */
  gemvAloneMs?: number;
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');
const range = (xs: number[], d = 1): string => (xs.length ? `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)})` : '-');
export const shares = (c: DecodeRow, ps: Pass[]): number[] => passShares(ps.map((p) => p.tokPerS), c.bytes.total, ps.map((p) => p.before), ps.map((p) => p.after));

export function table(cases: DecodeRow[], gemv: Map<DecodeRow, { gbps: number; share: number }>): string {
  const lines = [
    '| case | kernel | MB / token (weights + K/V) | held MiB | tok/s, median (range) | GB/s | % of bound, median (range) | llama.cpp tg64 | llama.cpp % of bound | ours / llama.cpp | one-row GEMMs alone: GB/s, % of bound | CPU / wall |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of cases) {
    const tok = median(c.ours.map((p) => p.tokPerS));
    const llama = c.llama.length ? median(c.llama.map((p) => p.tokPerS)) : NaN;
    const g = gemv.get(c);
    const mb = `${(c.bytes.total / 1e6).toFixed(1)} (${((c.bytes.weights + c.bytes.embeddingRow) / 1e6).toFixed(1)} + ${((c.bytes.kvRead + c.bytes.kvWrite) / 1e6).toFixed(1)})`;
    lines.push(`| ${c.label} | ${c.kernel} | ${mb} | ${c.heldMiB.toFixed(0)} | ${range(c.ours.map((p) => p.tokPerS))} | ${f1((tok * c.bytes.total) / 1e9)} | ${shareCell(shares(c, c.ours))} | ` +
      `${c.llama.length ? range(c.llama.map((p) => p.tokPerS)) : '-'} | ${shareCell(shares(c, c.llama))} | ${Number.isFinite(llama) ? `${(tok / llama).toFixed(2)}x` : '-'} | ` +
      `${g ? `${g.gbps.toFixed(1)}, ${(100 * g.share).toFixed(0)} %` : '-'} | ${median(c.ours.map((p) => p.cpuPerWall)).toFixed(2)} |`);
  }
  return lines.join('\n');
}

/** ms per token per part, medians over the passes: the step's regions, what is left of the step, the gap's binding and JS parts. */
export function breakdownTable(cases: DecodeRow[]): string {
  const lines = [
    '| case | ms / token (1 / tok/s) | native step | GEMMs (pool waits in them) | attention | norms, rope, K/V writes, activations | LM head | sampling | rest of the step | binding round trip | JS between steps | steps taken from ahead | GEMMs alone would take |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const ms = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '-');
  for (const c of cases) {
    const ps = c.ours.filter((p) => p.profile);
    if (!ps.length) continue;
    const per = (f: (p: Pass, q: StepProfileFigures) => number): number => median(ps.map((p) => f(p, p.profile!)));
    const step = per((_, q) => q.stepMs / q.numSteps);
    const regions = per((_, q) => (q.gemmMs + q.attentionMs + q.rowOpsMs + q.lmHeadMs + q.samplingMs) / q.numSteps);
    const gemm = per((_, q) => q.gemmMs / q.numSteps), wait = per((_, q) => q.poolWaitMs / q.numSteps);
    // The runner's gaps are those of the steps asked for (a step taken from ahead has none); the JS time is over all steps.
    const binding = per((p, q) => (q.numGaps ? q.gapMs / q.numGaps - p.jsMs! : NaN)), js = per((p) => p.jsMs!);
    const taken = per((_, q) => q.numAhead);
    const alone = c.gemvAloneMs;
    lines.push(`| ${c.label} | ${ms(per((p) => 1000 / p.tokPerS))} | ${ms(step)} | ${ms(gemm)} (${ms(wait)}) | ${ms(per((_, q) => q.attentionMs / q.numSteps))} | ` +
      `${ms(per((_, q) => q.rowOpsMs / q.numSteps))} | ${ms(per((_, q) => q.lmHeadMs / q.numSteps))} | ${ms(per((_, q) => q.samplingMs / q.numSteps))} | ${ms(step - regions)} | ` +
      `${ms(binding)} | ${ms(js)} | ${taken.toFixed(0)} | ${alone === undefined ? '-' : ms(alone)} |`);
  }
  return lines.join('\n');
}


/** --gemm-beside: one pass's GEMMs + LM head ms per token in the step and the quantized probe right after it. */
export interface Beside { gap: number; inStep: number; alone: QuantGemmFigures }

/** Per case and gap: the step's GEMMs + LM head against the probe's best, mean and median pass, medians over the rounds. */
export function besideTable(cases: Array<DecodeRow & { beside: Beside[] }>): string {
  const lines = [
    '| case | gap µs | in the step, ms | alone: best / mean / median pass, ms | step / alone: best / mean / median |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const c of cases) {
    for (const gap of [...new Set(c.beside.map((b) => b.gap))]) {
      const bs = c.beside.filter((b) => b.gap === gap);
      const m = (f: (b: Beside) => number): number => median(bs.map(f));
      const step = m((b) => b.inStep), best = m((b) => b.alone.msBest), mean = m((b) => b.alone.msMean), med = m((b) => b.alone.msMedian);
      // The ratios are medians of each pass's own ratio (the probe ran right after that pass).
      const r = (f: (b: Beside) => number): string => `${m((b) => b.inStep / f(b)).toFixed(2)}x`;
      lines.push(`| ${c.label} | ${gap} | ${step.toFixed(3)} | ${best.toFixed(3)} / ${mean.toFixed(3)} / ${med.toFixed(3)} | ` +
        `${r((b) => b.alone.msBest)} / ${r((b) => b.alone.msMean)} / ${r((b) => b.alone.msMedian)} |`);
    }
  }
  return lines.join('\n');
}
