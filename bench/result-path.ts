/**
 * Where a bench writes its results when no --out is given: a dated name of its own under
 * bench/results, so a run never overwrites an earlier one nor a tracked fixture that tests
 * read (bench/results/latency-calibration.json, sim-vs-real.json).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/results of this checkout (from bench/ or dist/bench/). */
export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), ...(import.meta.url.includes('/dist/') ? ['..', '..'] : ['..']), 'bench', 'results');

export interface ResultPathOptions {
  /** After the date: STEM-DATE-TAG.json (bench/run.ts's quick runs: DATE-quick.json). */
  readonly tag?: string;
  /** Files written beside the JSON under its stem (['.md', '.svg']): a name is taken if any of them exists. */
  readonly beside?: readonly string[];
}

/**
 * dir/STEM-DATE.json (DATE.json for an empty stem), or the first of dir/STEM-DATE-2.json, ...
 * that no file holds yet (nor a file beside it).
 */
export function datedResultPath(stem: string, dir = RESULTS_DIR, date = new Date(), options: ResultPathOptions = {}): string {
  const base = [stem, date.toISOString().slice(0, 10), options.tag].filter(Boolean).join('-');
  for (let n = 1; ; n++) {
    const name = n === 1 ? base : `${base}-${n}`;
    if (!['.json', ...(options.beside ?? [])].some((ext) => existsSync(join(dir, name + ext)))) return join(dir, `${name}.json`);
  }
}
