/** Result rows as plain tables (header + rows of strings), rendered to the terminal or to Markdown. */
import type { InterferenceResult } from './interference.js';
import type { ClientMetrics } from './metrics.js';
import type { OurMetrics } from './ours.js';
import type { LongContextProfile, StepProfile } from './step-profile.js';
import type { DemoResult, LlamaCppMetrics, ModelResult } from './suites.js';

export interface Table {
  title: string;
  header: string[];
  rows: string[][];
}

export const n0 = (v: number): string => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-');
export const n1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-');
const pct = (v: number): string => `${(v * 100).toFixed(1)} %`;
const ratio = (a: number, b: number | undefined): string => (b ? `${(a / b).toFixed(2)}x` : '-');

function latency(m: ClientMetrics): string[] {
  return [`${n1(m.ttftMs.p50)} / ${n1(m.ttftMs.p90)} / ${n1(m.ttftMs.p99)}`, `${n1(m.tpotMs.p50)} / ${n1(m.tpotMs.p90)} / ${n1(m.tpotMs.p99)}`, `${n1(m.itlMs.p50)} / ${n1(m.itlMs.p90)} / ${n1(m.itlMs.p99)}`];
}

const LATENCY_HEADER = ['TTFT ms p50/p90/p99', 'TPOT ms p50/p90/p99', 'ITL ms p50/p90/p99'];

function engineCells(m: OurMetrics): string[] {
  const e = m.engine;
  return [n0(e.steps), n1(e.tokensPerStep), `${e.peakPages} / ${e.naivePages} (${e.kvSavings.toFixed(1)}x)`, String(e.preemptions)];
}

const ENGINE_HEADER = ['steps', 'tokens/step', 'peak KV pages / naive (saving)', 'preemptions'];

function llamaLabel(m: LlamaCppMetrics): string {
  const by = Object.entries(m.probeTotalTokPerSByThreads).map(([t, v]) => `${t}t ${n0(v)}`).join(', ');
  return `llama.cpp ${m.threads}t (probe tok/s: ${by})`;
}

export function randomTable(m: ModelResult): Table {
  const rows: string[][] = [];
  for (const p of m.random) {
    rows.push([String(p.concurrency), 'nano-serving', n0(p.ours.outputTokPerS), n0(p.ours.totalTokPerS), p.ours.requestsPerS.toFixed(2), ...latency(p.ours), ratio(p.ours.outputTokPerS, p.llamaCpp?.outputTokPerS), ...engineCells(p.ours)]);
    if (p.llamaCpp) rows.push([String(p.concurrency), llamaLabel(p.llamaCpp), n0(p.llamaCpp.outputTokPerS), n0(p.llamaCpp.totalTokPerS), p.llamaCpp.requestsPerS.toFixed(2), ...latency(p.llamaCpp), '1.00x', '', '', '', '']);
  }
  const b = m.baselines;
  const top = m.random[m.random.length - 1];
  const chunkLabel = 'baseline: chunking off (prompts here fit one 256-token chunk: the same plan, so this row shows run-to-run noise)';
  for (const [label, r] of [[chunkLabel, b.chunkingOff], ['baseline: sequential (1 at a time)', b.sequential]] as const) {
    if (r) rows.push([label === chunkLabel ? String(top.concurrency) : '1', label, n0(r.outputTokPerS), n0(r.totalTokPerS), r.requestsPerS.toFixed(2), ...latency(r), ratio(top.ours.outputTokPerS, r.outputTokPerS) + ' (ours/this)', ...engineCells(r)]);
  }
  return { title: `${m.model}: random workload`, header: ['conc.', 'engine', 'out tok/s', 'total tok/s', 'req/s', ...LATENCY_HEADER, 'ours / llama.cpp', ...ENGINE_HEADER], rows };
}

export function sharedPrefixTable(m: ModelResult): Table {
  const rows: string[][] = [];
  for (const p of m.sharedPrefix) {
    const e = p.ours.engine;
    rows.push([String(p.concurrency), 'nano-serving (cache on)', n0(p.ours.totalTokPerS), n0(p.ours.outputTokPerS), `${pct(e.cacheHitRate)} / ${pct(p.optimumHitRate)}`, n0(e.prefillTokens), ...latency(p.ours).slice(0, 1), ratio(p.ours.totalTokPerS, p.llamaCpp?.totalTokPerS)]);
    if (p.llamaCpp) rows.push([String(p.concurrency), llamaLabel(p.llamaCpp), n0(p.llamaCpp.totalTokPerS), n0(p.llamaCpp.outputTokPerS), 'per-sequence reuse', '-', ...latency(p.llamaCpp).slice(0, 1), '1.00x']);
  }
  const off = m.baselines.cacheOff;
  const top = m.sharedPrefix[m.sharedPrefix.length - 1];
  const poisson = m.sharedPrefixPoisson;
  rows.push([String(top.concurrency), `nano-serving, Poisson arrivals ${poisson.rate} req/s`, n0(poisson.ours.totalTokPerS), n0(poisson.ours.outputTokPerS), `${pct(poisson.ours.engine.cacheHitRate)} / ${pct(poisson.optimumHitRate)}`, n0(poisson.ours.engine.prefillTokens), ...latency(poisson.ours).slice(0, 1), '-']);
  rows.push([String(top.concurrency), 'baseline: nano-serving cache off', n0(off.totalTokPerS), n0(off.outputTokPerS), pct(off.engine.cacheHitRate), n0(off.engine.prefillTokens), ...latency(off).slice(0, 1), ratio(top.ours.totalTokPerS, off.totalTokPerS) + ' (on/off)']);
  return { title: `${m.model}: shared prefix`, header: ['conc.', 'engine', 'total tok/s', 'out tok/s', 'hit rate / optimum', 'prefill tokens computed', 'TTFT ms p50/p90/p99', 'ours / other'], rows };
}

export function prefillTable(models: readonly ModelResult[]): Table {
  const rows = models.map((m) => {
    const p = m.prefill;
    return [m.model, String(p.promptLen), n0(p.ours.totalTokPerS), p.llamaCpp ? n0(p.llamaCpp.totalTokPerS) : '-', p.llamaCpp ? `${p.llamaCpp.threads}` : '-', ratio(p.ours.totalTokPerS, p.llamaCpp?.totalTokPerS), n1(p.ours.ttftMs.p50), p.llamaCpp ? n1(p.llamaCpp.ttftMs.p50) : '-'];
  });
  return { title: 'prefill (one prompt at a time, 1 output token)', header: ['model', 'prompt tokens', 'ours tok/s', 'llama.cpp tok/s', 'llama.cpp threads', 'ratio', 'ours TTFT ms', 'llama.cpp TTFT ms'], rows };
}

export function interferenceTable(results: readonly InterferenceResult[]): Table {
  const rows = results.map((r) => [r.label, `${n1(r.itlBeforeMs.p50)} / ${n1(r.itlBeforeMs.p99)}`, `${n1(r.itlDuringMs.p50)} / ${n1(r.itlDuringMs.p99)}`, `${n1(r.itlAfterMs.p50)} / ${n1(r.itlAfterMs.p99)}`, `${r.spikeRatio.toFixed(2)}x`, r.spikeRatioWithoutStalls === undefined ? '-' : `${r.spikeRatioWithoutStalls.toFixed(2)}x (${r.steps.numStalls ?? '-'})`, r.control ? `${r.control.ratio.toFixed(2)}x` : '-', n0(r.longPromptTtftMs)]);
  return { title: 'long-prompt interference: decode streams ITL', header: ['prefill', 'before p50/p99 ms', 'during p50/p99 ms', 'after p50/p99 ms', 'during p99 / before p50', 'without stalls (stalls)', 'control: no prompt, same tokens', 'long prompt TTFT ms'], rows };
}

export function longContextTable(p: LongContextProfile): Table {
  const rows = [['decode, 1 sequence', n1(p.decodeShortMs) + ' (at 32)', n1(p.decodeLongMs), `${(p.decodeLongMs / p.decodeShortMs).toFixed(1)}x`]];
  for (const c of p.chunks) rows.push([`prefill chunk of ${c.chunk}`, n1(c.atStartMs), n1(c.atEndMs), `${(c.atEndMs / c.atStartMs).toFixed(1)}x`]);
  return { title: `one step at the start and at the end of a ${p.context}-token context (raw executor, ms)`, header: ['step', 'at the start', `ending at ${p.context}`, 'ratio'], rows };
}

export function demoTable(d: DemoResult): Table {
  const row = (label: string, r: OurMetrics): string[] => [label, n0(r.outputTokPerS), n0(r.totalTokPerS), r.requestsPerS.toFixed(1), ...latency(r), ...engineCells(r)];
  return {
    title: `tiny demo: ${d.numRequests} short requests at once`,
    header: ['run', 'out tok/s', 'total tok/s', 'req/s', ...LATENCY_HEADER, ...ENGINE_HEADER],
    rows: [row(`${d.numRequests} concurrent`, d.ours), row(`sequential (${(d.ours.outputTokPerS / d.sequential.outputTokPerS).toFixed(0)}x slower)`, d.sequential)],
  };
}

function profileRow(label: string, run: OurMetrics['engine']['profile'], s: StepProfile): string[] {
  const share = (v: number): string => (v < 0 ? `${n1(v)} (noise)` : `${n1(v)} (${((v / s.fullMs) * 100).toFixed(0)} %)`);
  const us = (ms: number): string => `${(ms * 1000).toFixed(0)} µs`;
  return [label, `${n1(run.nativeMs)} ms / ${us(run.callMs)} / ${us(run.betweenMs)} (scheduler ${us(run.scheduleMs)})`, `${(run.jsShare * 100).toFixed(1)} %`, `${s.batch} seqs, ctx ${s.context}: ${n1(s.fullMs)}`, share(s.layersMs), share(s.attentionMs), share(s.lmHeadAndSamplingMs), n1(s.residualMs), n1(s.gemmGflops)];
}

export function profileTable(models: readonly ModelResult[], demo?: DemoResult): Table {
  const rows = models.map((m) => {
    const top = m.random[m.random.length - 1];
    return profileRow(`${m.model}, random c=${top.concurrency}`, top.ours.engine.profile, m.stepProfile);
  });
  if (demo) rows.push(profileRow(`tiny demo, c=${demo.numRequests}`, demo.ours.engine.profile, demo.stepProfile));
  return {
    title: 'where a step goes',
    header: ['run', 'engine run, per step: native / JS call into the addon / JS between steps', 'JS share of step time', 'decode step ms (raw executor)', 'layers (GEMMs, norms, glue) ms', 'attention ms', 'LM head + sampling ms', 'residual ms', 'matmul GFLOP/s'],
    rows,
  };
}

export function renderTerminal(t: Table): string {
  const widths = t.header.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (c ?? '').padEnd(widths[i])).join(' | ');
  return [`\n${t.title}`, line(t.header), widths.map((w) => '-'.repeat(w)).join('-+-'), ...t.rows.map(line)].join('\n');
}

export function renderMarkdown(t: Table): string {
  const line = (cells: string[]): string => `| ${cells.map((c) => (c === '' ? ' ' : c)).join(' | ')} |`;
  return [`### ${t.title}`, '', line(t.header), line(t.header.map(() => '---')), ...t.rows.map(line), ''].join('\n');
}
