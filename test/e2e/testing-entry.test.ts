/**
 * The long-prompt interference simulator through the published `nano-serving/testing` entry
 * (the package's exports map, dist/), run as a user runs it: a script outside the test
 * runner imports it by the package's name. Builds the TypeScript first when it is stale.
 */
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureDist, ROOT } from '../dist-build.js';

beforeAll(() => ensureDist(join(ROOT, 'dist', 'src', 'testing', 'index.js')), 120_000);

const SCRIPT = `
import { simulateInterference, stepCostFromLatency, ZEN5_SMALL } from 'nano-serving/testing';

const small = { numStreams: 4, streamPromptLen: 16, longPromptLen: 1000, before: 12 };
// 10 ms a step, 30 ms once the step carries prefill (more tokens than sequences).
const prefillCosts3x = (input) => (input.tokens.length > input.seqStart.length - 1 ? 30 : 10);
const doubled = Object.fromEntries(Object.entries(ZEN5_SMALL.bf16).map(([k, v]) => [k, 2 * v]));
const paced = (latency) => ({ stepCost: { ...stepCostFromLatency(latency), maxRatio: 2, isPaced: true } });
console.log(JSON.stringify({
  flat: await simulateInterference(() => 10, { maxChunkSize: 64 }, 0, small),
  prefill3x: await simulateInterference(prefillCosts3x, { maxChunkSize: 64 }, 0, small),
  plain64: await simulateInterference(ZEN5_SMALL.bf16, { maxChunkSize: 64 }),
  paced: await simulateInterference(ZEN5_SMALL.bf16, paced(ZEN5_SMALL.bf16)),
  pacedDoubled: await simulateInterference(doubled, paced(doubled)),
}));
`;

describe('simulateInterference from nano-serving/testing', () => {
  it('computes the ITL ratio from the step costs it is given', async () => {
    const file = join(ROOT, `.testing-entry-${process.pid}.mjs`);
    writeFileSync(file, SCRIPT);
    let stdout: string;
    try {
      ({ stdout } = await promisify(execFile)(process.execPath, [file], { cwd: ROOT, timeout: 90_000 }));
    } finally {
      rmSync(file, { force: true });
    }
    const { flat, prefill3x, plain64, paced, pacedDoubled } = JSON.parse(stdout);
    // Every step 10 ms: no spike; the prompt's 1,000 tokens in 64-token chunks take 16 steps.
    expect(flat).toMatchObject({ itlBeforeP50Ms: 10, itlDuringP99Ms: 10, spikeRatio: 1, ttftMs: 160 });
    // Steps with prefill at 30 ms: the streams' gaps during it are 30 ms, 3x their 10 ms before.
    expect(prefill3x).toMatchObject({ itlBeforeP50Ms: 10, itlDuringP99Ms: 30, spikeRatio: 3, ttftMs: 480 });
    for (const run of [plain64, paced]) expect(run.spikeRatio).toBe(run.itlDuringP99Ms / run.itlBeforeP50Ms);
    // The paced bound lowers the spike of plain 64-token chunks on the same costs.
    expect(paced.spikeRatio).toBeLessThan(plain64.spikeRatio / 2);
    expect(paced.spikeRatio).toBeGreaterThan(1);
    // Every cost doubled: the same schedule (the bound sees only their ratios), every time doubled.
    expect(pacedDoubled).toEqual({ ...paced, itlBeforeP50Ms: 2 * paced.itlBeforeP50Ms, itlDuringP99Ms: 2 * paced.itlDuringP99Ms, ttftMs: 2 * paced.ttftMs });
  }, 120_000);
});
