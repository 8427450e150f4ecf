/** Prefix sharing inside one batch: followers wait for the prefill in flight instead of recomputing its pages. */
import { describe, expect, it } from 'vitest';
import { optimalHitRate, sharedPrefixWorkload } from '../../bench/workloads.js';
import { EngineCore, type SchedulingPolicy } from '../../src/engine/core.js';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';
import { SimulatedExecutor } from '../../src/executor/simulated.js';
import { schedule } from '../../src/scheduler/policy.js';
import { checkStepPlan } from '../../src/testing/invariants.js';

const PAGE = 16;
const config = { maxBatchTokens: 2048, maxRunning: 64, maxChunkSize: 256, chunkedPrefill: true, prefixCache: true, maxWaiting: Infinity };

async function hitRate(policy?: SchedulingPolicy): Promise<{ hitRate: number; optimum: number; prefillTokens: number; problems: string[] }> {
  const requests = sharedPrefixWorkload({ numGroups: 4, requestsPerGroup: 16, prefixLen: 384, questionLen: 32, outputLen: 8, vocabSize: 256, rate: Infinity, seed: 7 });
  const executor = new SimulatedExecutor({ vocabSize: 256, numPages: 2048, pageSize: PAGE, maxBatchTokens: 4096 });
  const problems: string[] = [];
  const core = new EngineCore(executor, new ByteTokenizer(256, []), {
    ...config,
    policy,
    onPlan: (view, plan) => problems.push(...checkStepPlan(view, config, plan)),
  });
  await Promise.all(requests.map((r) => core.submit(r.prompt, { maxTokens: r.maxTokens, ignoreEos: true }).done));
  const stats = core.stats();
  await core.close();
  return { hitRate: stats.cacheHitRate, optimum: optimalHitRate(requests, 384, PAGE), prefillTokens: stats.prefillTokens, problems };
}

describe('shared prefixes arriving together', () => {
  it('reach the optimal hit rate: each prefix is computed once, with the scheduling invariants kept', async () => {
    const held = await hitRate();
    expect(held.problems).toEqual([]);
    expect(held.hitRate).toBeCloseTo(held.optimum, 6);
    // Without the hold-back (a policy that cannot see shared pages), followers recompute the prefix.
    const blind = await hitRate((view, cfg) => schedule({ ...view, sharesPage: undefined }, cfg));
    expect(blind.hitRate).toBeLessThan(held.optimum - 0.02);
    expect(blind.prefillTokens).toBeGreaterThan(held.prefillTokens);
  });
});
