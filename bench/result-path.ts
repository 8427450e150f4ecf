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

/** dir/STEM-DATE.json, or the first of dir/STEM-DATE-2.json, ... that no file holds yet. */
export function datedResultPath(stem: string, dir = RESULTS_DIR, date = new Date()): string {
  const day = date.toISOString().slice(0, 10);
  for (let n = 1; ; n++) {
    const file = join(dir, `${stem}-${day}${n === 1 ? '' : `-${n}`}.json`);
    if (!existsSync(file)) return file;
  }
}
