/**
 * generation_config.json: its EOS list ends generation, and its sampling values
 * (temperature, top_p, top_k with do_sample, repetition_penalty) are used where a request
 * leaves them unset; a request's own values win.
 */
import { mkdtempSync, cpSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NanoServingEngine } from '../../src/engine/engine.js';
import { loadHfModel } from '../../src/models/hf.js';

const fixture = join(import.meta.dirname, 'fixtures', 'hf', 'models', 'llama-v5-theta5e5-gqa');
const scratch = mkdtempSync(join(tmpdir(), 'hf-generation-'));
const engines: NanoServingEngine[] = [];
afterAll(async () => {
  for (const engine of engines) await engine.close();
  rmSync(scratch, { recursive: true, force: true });
});

async function engineFor(dir: string): Promise<NanoServingEngine> {
  const engine = await NanoServingEngine.create({ model: dir, threads: 1, kvCachePages: 32, prefixCache: false });
  engines.push(engine);
  return engine;
}

describe('generation_config.json', () => {
  it('reads the EOS list and the sampling defaults (do_sample true)', async () => {
    const model = await loadHfModel(fixture);
    expect(model.generation.eosTokenIds).toEqual([2, 1]);
    expect(model.tokenizer.eosTokenIds).toEqual([2, 1]);
    expect(model.samplingDefaults).toEqual({ temperature: 0.7, topP: 0.9, topK: 20, repetitionPenalty: 1.05 });
  });

  it('without do_sample, only repetition_penalty applies (transformers then decodes greedily)', async () => {
    const dir = join(scratch, 'greedy');
    cpSync(fixture, dir, { recursive: true });
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: 2, temperature: 0.6, top_p: 0.9, repetition_penalty: 1.1 }));
    const model = await loadHfModel(dir);
    expect(model.samplingDefaults).toEqual({ repetitionPenalty: 1.1 });
    expect(model.generation.eosTokenIds).toEqual([2]);
  });

  it('a request that sets nothing samples with the defaults; its own values win', async () => {
    const engine = await engineFor(fixture);
    const prompt = [5, 17, 99, 140, 201, 33];
    const implicit = await engine.submit(prompt, { seed: 7, maxTokens: 16, ignoreEos: true }).done;
    const explicit = await engine.submit(prompt, { seed: 7, maxTokens: 16, ignoreEos: true, temperature: 0.7, topP: 0.9, topK: 20, repetitionPenalty: 1.05 }).done;
    const greedy = await engine.submit(prompt, { seed: 7, maxTokens: 16, ignoreEos: true, temperature: 0, repetitionPenalty: 1 }).done;
    expect(implicit.tokens).toEqual(explicit.tokens);
    expect(greedy.tokens).not.toEqual(implicit.tokens);
    const hf = (await import(join(fixture, 'expected.json'), { with: { type: 'json' } })).default as { prompts: Array<{ ids: number[]; tokens: number[] }> };
    const first = await engine.submit(hf.prompts[0].ids, { maxTokens: 10, ignoreEos: true, temperature: 0, repetitionPenalty: 1 }).done;
    expect(first.tokens).toEqual(hf.prompts[0].tokens);
  });
});
