import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { datedResultPath } from '../../bench/result-path.js';

describe('datedResultPath', () => {
  it('names a file no earlier run holds: STEM-DATE.json, then STEM-DATE-2.json, ...', () => {
    const dir = mkdtempSync(join(tmpdir(), 'result-path-'));
    const day = new Date('2026-12-03T10:00:00Z');
    expect(datedResultPath('sim-vs-real', dir, day)).toBe(join(dir, 'sim-vs-real-2026-12-03.json'));
    writeFileSync(join(dir, 'sim-vs-real-2026-12-03.json'), '{}');
    expect(datedResultPath('sim-vs-real', dir, day)).toBe(join(dir, 'sim-vs-real-2026-12-03-2.json'));
    writeFileSync(join(dir, 'sim-vs-real-2026-12-03-2.json'), '{}');
    expect(datedResultPath('sim-vs-real', dir, day)).toBe(join(dir, 'sim-vs-real-2026-12-03-3.json'));
  });

  it('npm run bench\'s names: DATE.json (DATE-quick.json), taken while its report or chart beside it exists', () => {
    const dir = mkdtempSync(join(tmpdir(), 'result-path-'));
    const day = new Date('2026-12-03T10:00:00Z');
    const bench = (tag?: string): string => datedResultPath('', dir, day, { tag, beside: ['.md', '.svg'] });
    expect(bench()).toBe(join(dir, '2026-12-03.json'));
    expect(bench('quick')).toBe(join(dir, '2026-12-03-quick.json'));
    writeFileSync(join(dir, '2026-12-03.svg'), '');
    expect(bench()).toBe(join(dir, '2026-12-03-2.json'));
    writeFileSync(join(dir, '2026-12-03-2.md'), '');
    expect(bench()).toBe(join(dir, '2026-12-03-3.json'));
    expect(datedResultPath('', dir, day)).toBe(join(dir, '2026-12-03.json')); // only the JSON counts unless told
  });

  it('defaults to this checkout\'s bench/results, never the tracked fixtures\' own names', () => {
    const file = datedResultPath('latency-calibration');
    expect(file).toMatch(/bench[\\/]results[\\/]latency-calibration-\d{4}-\d{2}-\d{2}(-\d+)?\.json$/);
    expect(file.endsWith(join('bench', 'results', 'latency-calibration.json'))).toBe(false);
  });
});
