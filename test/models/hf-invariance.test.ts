/**
 * Batch invariance holds for the Hugging Face features too: with sliding windows, soft-caps,
 * q/k norms and scaled RoPE tables, a request's greedy tokens and logprobs are bitwise the
 * same whatever the chunk size, the batch and the prefix cache. (Dynamic NTK and LongRoPE are
 * the exception transformers itself makes: their table depends on the longest position of a
 * forward call, so a prompt split into chunks is rotated differently from a whole one.)
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NanoServingEngine } from '../../src/engine/engine.js';

const root = join(import.meta.dirname, 'fixtures', 'hf', 'models');
const engines: NanoServingEngine[] = [];
afterAll(async () => {
  for (const engine of engines) await engine.close();
});

async function run(name: string, options: { maxChunkSize: number; prefixCache: boolean }, prompts: number[][]): Promise<Array<{ tokens: number[]; logprobs: number[] }>> {
  const engine = await NanoServingEngine.create({
    model: join(root, name), threads: 2, kvCachePages: 128, pageSize: 16, maxBatchTokens: 1024, ...options,
  });
  engines.push(engine);
  const results = await engine.generate(prompts, { temperature: 0, repetitionPenalty: 1, maxTokens: 12, ignoreEos: true, logprobs: 0 });
  return results.map((r) => ({ tokens: r.tokens, logprobs: (r.logprobs ?? []).map((l) => l.logprob) }));
}

describe('batch invariance with windows, soft-caps, q/k norms and scaled tables', () => {
  const shared = Array.from({ length: 150 }, (_, i) => (i * 37 + 11) % 300 + 3);
  const prompts = [shared, [...shared.slice(0, 96), 5, 6, 7], shared.slice(0, 40), Array.from({ length: 7 }, (_, i) => i + 20)];
  for (const name of ['mistral-v5-window', 'gemma2-v5', 'gemma3-v5', 'qwen2-v5-window', 'qwen3-v4-tied-yarn', 'llama-v5-llama3']) {
    it(name, async () => {
      const whole = await run(name, { maxChunkSize: 1024, prefixCache: false }, prompts);
      const chunked = await run(name, { maxChunkSize: 24, prefixCache: true }, prompts);
      const alone = await Promise.all(prompts.map(async (p) => (await run(name, { maxChunkSize: 1024, prefixCache: false }, [p]))[0]));
      expect(chunked).toEqual(whole);
      expect(alone).toEqual(whole);
    });
  }
});
