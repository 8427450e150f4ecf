/**
 * npm run bench [-- --quick] [-- --model small|medium|tiny|all|none] [-- --threads N] [-- --runs N]
 *               [-- --out bench/results/DATE.json] [-- --no-llama] [-- --bf16]
 *               [-- --interference-variants PART,PART] [-- --interference-variant 'EXACT LABEL' ...]
 *               [-- --interference-warmups N]
 * Prints tables and writes the JSON results with their report and chart beside them, under
 * names of their own that no earlier run holds: bench/results/DATE.json (DATE-2.json, ... when
 * taken) with DATE.md and DATE.svg, or --out FILE.json with FILE.md and FILE.svg. A run never
 * overwrites a saved result nor the committed REPORT.md and chart.svg.
 * --interference-warmups N: discarded runs of each interference variant before the measured ones
 * (default 1, 0 with --quick): a fresh process's JIT compiles take a core from its first steps.
 * --quick: small sizes, one repetition, under a minute (CI smoke); its files go to the
 * system temp folder unless --out says otherwise.
 * --render FILE.json: no run; renders a saved result as THE report: REPORT.md and chart.svg
 * beside it (how bench/results/REPORT.md, which the README cites, is updated).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { isPresetName, type PresetName } from '../src/models/presets.js';
import { analysis } from './analysis.js';
import { runBench, type BenchResult } from './bench.js';
import type { VariantFilter } from './suites.js';
import { markdownReport, terminalReport } from './report.js';
import { datedResultPath, RESULTS_DIR } from './result-path.js';
import { concurrencyChart } from './svg.js';

function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

/** Every value of a repeatable option. */
function options(name: string): string[] {
  const values: string[] = [];
  process.argv.forEach((arg, i) => {
    if (arg === `--${name}` && i + 1 < process.argv.length) values.push(process.argv[i + 1]);
  });
  return values;
}

function intOption(name: string, fallback: number): number {
  const value = Number(option(name) ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`--${name} must be an integer >= 1`);
  return value;
}

function countOption(name: string, fallback: number): number {
  const value = Number(option(name) ?? fallback);
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`--${name} must be an integer >= 0`);
  return value;
}

function modelsOption(quick: boolean): PresetName[] {
  const value = option('model') ?? (quick ? 'small' : 'all');
  if (value === 'all') return ['small', 'medium'];
  if (value === 'none') return [];
  const names = value.split(',');
  for (const n of names) if (!isPresetName(n)) throw new RangeError(`--model: unknown preset '${n}' (tiny, small, medium, all)`);
  return names as PresetName[];
}

/** Writes the markdown report and its chart beside `out` (the JSON results), under the names given. */
function writeReport(result: BenchResult, out: string, names: { report: string; chart: string }): string {
  if (result.models.length) writeFileSync(join(dirname(out), names.chart), concurrencyChart(result.models));
  const reportPath = join(dirname(out), names.report);
  writeFileSync(reportPath, markdownReport(result, names.chart, analysis(result, basename(out))));
  return reportPath;
}

/** The report and chart named after a run's own JSON file: X.json -> X.md, X.svg. */
function ownNames(out: string): { report: string; chart: string } {
  const stem = basename(out).replace(/\.json$/, '');
  return { report: `${stem}.md`, chart: `${stem}.svg` };
}

/** --interference-variants a,b: labels containing a or b; --interference-variant LABEL (repeatable): that exact label. */
function variantFilter(): VariantFilter | undefined {
  const parts = option('interference-variants')?.split(','), exact = options('interference-variant');
  if (!parts && exact.length === 0) return undefined;
  return { parts, exact: exact.length > 0 ? exact : undefined };
}

const rendered = option('render');
if (rendered) {
  const saved = JSON.parse(readFileSync(rendered, 'utf8')) as BenchResult;
  console.log(terminalReport(saved));
  console.error(`wrote ${writeReport(saved, rendered, { report: 'REPORT.md', chart: 'chart.svg' })}`);
  process.exit(0);
}

const quick = flag('quick');
const out = option('out') ?? datedResultPath('', quick ? join(tmpdir(), 'nano-serving-bench') : RESULTS_DIR, new Date(), { tag: quick ? 'quick' : undefined, beside: ['.md', '.svg'] });
const started = performance.now();
const result = await runBench(
  {
    quick,
    models: modelsOption(quick),
    threads: intOption('threads', Math.min(2, availableParallelism())),
    runs: intOption('runs', quick ? 1 : 3),
    weightDtype: flag('bf16') ? 'bf16' : 'f32',
    llamaCpp: !flag('no-llama'),
    demo: !flag('no-demo'),
    interference: !flag('no-interference'),
    interferenceVariants: variantFilter(),
    interferenceWarmUps: countOption('interference-warmups', quick ? 0 : 1),
    log: (line) => console.error(`[${((performance.now() - started) / 1000).toFixed(0)}s] ${line}`),
  },
  `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
);
console.log(terminalReport(result));
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(result, null, 1));
const reportPath = writeReport(result, out, ownNames(out));
console.error(`wrote ${out}, ${reportPath} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
