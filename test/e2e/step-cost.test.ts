/** maxStepCostRatio on the native executor: chunks shrink beside decodes, outputs stay bitwise the same. */
import { describe, expect, it } from 'vitest';
import { NanoServingEngine, type SamplingParams } from '../../src/index.js';
import { schedule } from '../../src/scheduler/policy.js';
import type { SchedulerConfig, SchedulerView } from '../../src/scheduler/view.js';

const prompts = [
  ...Array.from({ length: 4 }, (_, i) => Array.from({ length: 6 + i }, (_, j) => 3 + ((i * 31 + j * 7) % 250))),
  Array.from({ length: 400 }, (_, j) => 3 + ((j * 13) % 250)),
];
const params: SamplingParams[] = prompts.map((_, i) => (i % 2 === 0 ? { maxTokens: 40, ignoreEos: true } : { maxTokens: 40, ignoreEos: true, temperature: 0.8, seed: i }));

async function run(maxStepCostRatio?: number): Promise<{ tokens: number[][]; maxChunkBesideDecodes: number }> {
  let maxChunkBesideDecodes = 0;
  const policy = (view: SchedulerView, config: SchedulerConfig) => {
    const plan = schedule(view, config);
    if (plan.runs.some((r) => r.kind === 'decode'))
      for (const r of plan.runs) if (r.kind === 'prefill') maxChunkBesideDecodes = Math.max(maxChunkBesideDecodes, r.numTokens);
    return plan;
  };
  const engine = await NanoServingEngine.create({ model: 'tiny', kvCachePages: 128, pageSize: 16, maxChunkSize: 128, maxBatchTokens: 512, maxRunning: 8, threads: 2, maxStepCostRatio, policy });
  try {
    const short = prompts.slice(0, 4).map((p, i) => engine.submit(p, params[i]));
    // The long prompt arrives once the short ones decode (a subscription that stays: unsubscribing the only one aborts).
    await Promise.all(short.map((h) => new Promise((resolve) => h.tokens$.subscribe(resolve))));
    const long = engine.submit(prompts[4], params[4]);
    const results = await Promise.all([...short, long].map((h) => h.done));
    expect(results.map((r) => r.finishReason)).toEqual(prompts.map(() => 'length'));
    return { tokens: results.map((r) => r.tokens), maxChunkBesideDecodes };
  } finally {
    await engine.close();
  }
}

describe('maxStepCostRatio with the native executor', () => {
  it('gives bitwise the same tokens as plain chunking, with smaller chunks beside decodes', async () => {
    const plain = await run();
    const budgeted = await run(1.2);
    expect(budgeted.tokens).toEqual(plain.tokens);
    expect(budgeted.maxChunkBesideDecodes).toBeGreaterThan(0);
    expect(budgeted.maxChunkBesideDecodes).toBeLessThan(128);
  });
});
