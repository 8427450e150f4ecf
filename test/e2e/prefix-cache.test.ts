import { describe, expect, it } from 'vitest';
import { NanoServingEngine, type ModelConfig } from '../../src/index.js';

const smallLlama: ModelConfig = {
  family: 'llama', vocabSize: 512, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16,
  intermediateSize: 128, contextLength: 512, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: false, qkvBias: false,
};

/** G groups x R requests: each group shares a long system prompt, each request has its own question; shuffled. */
function sharedPrefixWorkload(vocab: number, groups: number, perGroup: number, prefixLen: number): number[][] {
  const prompts: number[][] = [];
  for (let g = 0; g < groups; g++) {
    const prefix = Array.from({ length: prefixLen }, (_, i) => (g * 131 + i * 17 + 3) % vocab);
    for (let r = 0; r < perGroup; r++) prompts.push([...prefix, ...Array.from({ length: 5 + ((r * 7) % 11) }, (_, i) => (r * 31 + i * 13 + g) % vocab)]);
  }
  return prompts.map((p, i) => ({ p, k: (i * 7919) % prompts.length })).sort((a, b) => a.k - b.k).map((x) => x.p);
}

async function serve(model: string | ModelConfig, prompts: number[][], prefixCache: boolean) {
  // A pool too small for everything at once: forces eviction (and some preemption).
  const engine = await NanoServingEngine.create({ model, prefixCache, kvCachePages: 40, pageSize: 8, maxChunkSize: 24, maxBatchTokens: 96, maxRunning: 6, threads: 2 });
  const results = await Promise.all(prompts.map((p, i) => engine.submit(p, { maxTokens: 6 + (i % 9) }).done));
  await engine.whenIdle();
  engine.checkIntegrity();
  const stats = engine.stats();
  expect(stats.pages.free + stats.pages.evictable).toBe(stats.pages.total);
  await engine.close();
  return { tokens: results.map((r) => r.tokens), stats };
}

describe('radix prefix cache end to end (native executor, greedy)', () => {
  for (const model of ['tiny', smallLlama] as const) {
    const name = typeof model === 'string' ? model : 'llama';
    it(`${name}: outputs identical with the cache on and off under heavy sharing and forced eviction`, async () => {
      const prompts = sharedPrefixWorkload(typeof model === 'string' ? 256 : 512, 4, 6, 70);
      const on = await serve(model, prompts, true);
      const off = await serve(model, prompts, false);
      expect(on.tokens).toEqual(off.tokens);
      expect(on.stats.cacheHitRate).toBeGreaterThan(0.3);
      expect(on.stats.pages.evictions).toBeGreaterThan(0);
      expect(on.stats.prefillTokens).toBeLessThan(off.stats.prefillTokens);
      expect(off.stats.cachedTokens).toBe(0);
      expect(off.stats.preemptions).toBeGreaterThan(0); // the workload also exercises preemption by recompute
    });
  }
});
