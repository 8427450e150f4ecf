/**
 * A hand-written SVG line chart: two panels (output throughput and ITL p50 against
 * concurrency), our engine and llama.cpp per model, log-scale y.
 */
import type { ModelResult } from './suites.js';

export interface Series {
  name: string;
  color: string;
  isDashed: boolean;
  /** One value per x category; NaN = missing. */
  values: number[];
}

interface Panel {
  title: string;
  yLabel: string;
  xs: number[];
  series: Series[];
}

const W = 420;
const H = 300;
const M = { left: 64, right: 16, top: 32, bottom: 44 };
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const fmt = (v: number): string => (v >= 1000 ? `${+(v / 1000).toPrecision(3)}k` : `${+v.toPrecision(3)}`);

function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo && v <= hi) ticks.push(v);
    }
  }
  return ticks;
}

function panel(p: Panel, dx: number): string {
  const values = p.series.flatMap((s) => s.values).filter((v) => Number.isFinite(v) && v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const xAt = (i: number): number => dx + M.left + (p.xs.length === 1 ? plotW / 2 : (i * plotW) / (p.xs.length - 1));
  const yAt = (v: number): number => M.top + plotH - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotH;
  const out: string[] = [`<text x="${dx + W / 2}" y="18" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`];
  for (const t of logTicks(lo, hi)) {
    out.push(`<line x1="${dx + M.left}" x2="${dx + W - M.right}" y1="${yAt(t)}" y2="${yAt(t)}" stroke="#ddd"/>`);
    out.push(`<text x="${dx + M.left - 6}" y="${yAt(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  p.xs.forEach((x, i) => out.push(`<text x="${xAt(i)}" y="${H - M.bottom + 16}" text-anchor="middle">${x}</text>`));
  out.push(`<text x="${dx + M.left + plotW / 2}" y="${H - 8}" text-anchor="middle">concurrent requests</text>`);
  out.push(`<text transform="translate(${dx + 14},${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(p.yLabel)}</text>`);
  out.push(`<rect x="${dx + M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  for (const s of p.series) {
    const points = s.values.map((v, i) => [xAt(i), v] as const).filter(([, v]) => Number.isFinite(v) && v > 0);
    const dash = s.isDashed ? ' stroke-dasharray="6 4"' : '';
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${points.map(([x, v]) => `${x.toFixed(1)},${yAt(v).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, v] of points) out.push(`<circle cx="${x.toFixed(1)}" cy="${yAt(v).toFixed(1)}" r="3" fill="${s.color}"/>`);
  }
  return out.join('\n');
}

function legend(series: Series[], y: number): string {
  return series
    .map((s, i) => {
      const x = 20 + i * 200;
      const dash = s.isDashed ? ' stroke-dasharray="6 4"' : '';
      return `<line x1="${x}" x2="${x + 28}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2"${dash}/><text x="${x + 34}" y="${y + 4}">${esc(s.name)}</text>`;
    })
    .join('\n');
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];

/** Throughput and ITL p50 against concurrency on the random workload, ours solid, llama.cpp dashed. */
export function concurrencyChart(models: readonly ModelResult[]): string {
  const xs = models[0]?.random.map((p) => p.concurrency) ?? [];
  const series = (pick: (m: ModelResult, p: ModelResult['random'][number], ours: boolean) => number): Series[] =>
    models.flatMap((m, i) => [
      { name: `nano-serving ${m.model}`, color: COLORS[i % COLORS.length], isDashed: false, values: m.random.map((p) => pick(m, p, true)) },
      { name: `llama.cpp ${m.model}`, color: COLORS[i % COLORS.length], isDashed: true, values: m.random.map((p) => pick(m, p, false)) },
    ]);
  const throughput = series((_, p, ours) => (ours ? p.ours.outputTokPerS : p.llamaCpp?.outputTokPerS ?? NaN));
  const itl = series((_, p, ours) => (ours ? p.ours.itlMs.p50 : p.llamaCpp?.itlMs.p50 ?? NaN));
  const height = H + 24 * Math.ceil(throughput.length / 4) + 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    panel({ title: 'Output tokens/s (random workload)', yLabel: 'output tokens/s (log)', xs, series: throughput }, 0),
    panel({ title: 'Inter-token latency p50', yLabel: 'ms (log)', xs, series: itl }, W),
    ...throughput.map((_, i) => (i % 4 === 0 ? legend(throughput.slice(i, i + 4), H + 12 + 24 * (i / 4)) : '')),
    '</svg>',
  ].join('\n');
}
