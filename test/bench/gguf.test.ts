/**
 * The proof that the llama.cpp comparison is apples to apples: a synthetic llama model
 * exported with writeGguf and loaded by llama.cpp (node-llama-cpp 3.21.1) produces the
 * same greedy tokens as our engine on the same weights. Skipped, with a message, only when
 * node-llama-cpp cannot load its prebuilt binary.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeLlamaCpp, greedyTokens, loadLlamaCpp, type LlamaCppRuntime } from '../../bench/llama-cpp.js';
import { NanoServingEngine } from '../../src/index.js';
import type { ModelConfig } from '../../src/models/config.js';
import { permuteHalfSplitToAdjacent, writeGguf } from '../../src/models/gguf.js';
import { presetConfig } from '../../src/models/presets.js';
import { syntheticTensors } from '../../src/models/synthetic.js';

const NUM_TOKENS = 40;
const dir = mkdtempSync(join(tmpdir(), 'nano-gguf-'));
let llamaLoadError: unknown;
let llamaCpp: typeof import('node-llama-cpp') | undefined;

beforeAll(async () => {
  try {
    llamaCpp = await import('node-llama-cpp');
    await llamaCpp.getLlama({ gpu: false, build: 'never', logLevel: llamaCpp.LlamaLogLevel.error });
  } catch (error) {
    llamaLoadError = error;
    console.warn(`SKIPPED llama.cpp agreement: node-llama-cpp failed to load its prebuilt binary: ${String(error)}`);
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function ourGreedy(config: ModelConfig, seed: number, prompt: number[]): Promise<number[]> {
  const engine = await NanoServingEngine.create({ model: config, weightSeed: seed, threads: 1, kvCachePages: 64, maxRunning: 4 });
  try {
    return (await engine.submit(prompt, { maxTokens: NUM_TOKENS, temperature: 0, ignoreEos: true }).done).tokens;
  } finally {
    await engine.close();
  }
}

async function theirGreedy(path: string, prompt: number[]): Promise<number[]> {
  let runtime: LlamaCppRuntime | undefined;
  try {
    runtime = await loadLlamaCpp(path);
    return await greedyTokens(runtime, prompt, NUM_TOKENS, 1);
  } finally {
    if (runtime) await disposeLlamaCpp(runtime);
  }
}

const gqa: ModelConfig = { ...presetConfig('small'), vocabSize: 1024, hiddenSize: 128, numLayers: 3, numHeads: 4, numKvHeads: 2, headDim: 32, intermediateSize: 320, contextLength: 256, ropeTheta: 500000 };

describe('writeGguf', () => {
  it('writes a GGUF v3 header: magic, version, counts, and permutes rotary rows per head', () => {
    const config: ModelConfig = { ...gqa, vocabSize: 300, numLayers: 1 };
    const path = join(dir, 'header.gguf');
    writeGguf(path, config, syntheticTensors(config, 1));
    const bytes = readFileSync(path);
    expect(bytes.toString('latin1', 0, 4)).toBe('GGUF');
    expect(bytes.readUInt32LE(4)).toBe(3);
    expect(Number(bytes.readBigUInt64LE(8))).toBe(Object.keys(syntheticTensors(config, 1)).length);
    const rows = { dtype: 'f32' as const, shape: [8, 1], data: Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]) };
    expect(Array.from(permuteHalfSplitToAdjacent(rows, 2, 4).data)).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
  });

  for (const [name, config, seed] of [['GQA llama (1024 vocab, 4 heads / 2 kv heads)', gqa, 3], ['the small preset', presetConfig('small'), 0]] as const) {
    it(`llama.cpp's greedy tokens on the exported ${name} match our engine for ${NUM_TOKENS} tokens`, async (ctx) => {
      if (llamaLoadError) ctx.skip();
      const path = join(dir, `model-${seed}.gguf`);
      writeGguf(path, config, syntheticTensors(config, seed));
      const prompt = Array.from({ length: 37 }, (_, i) => 3 + ((i * 7919 + seed) % (config.vocabSize - 3)));
      const ours = await ourGreedy({ ...config }, seed, prompt);
      const theirs = await theirGreedy(path, prompt);
      expect(theirs).toEqual(ours);
    }, 30_000);
  }

  it('negative control: without the rotary permutation llama.cpp disagrees (so the agreement above is not vacuous)', async (ctx) => {
    if (llamaLoadError) ctx.skip();
    const path = join(dir, 'unpermuted.gguf');
    writeGguf(path, { ...gqa, ropeNeox: false }, syntheticTensors(gqa, 3)); // same weights, rows left in half-split order
    const prompt = Array.from({ length: 37 }, (_, i) => 3 + ((i * 7919 + 3) % (gqa.vocabSize - 3)));
    expect(await theirGreedy(path, prompt)).not.toEqual(await ourGreedy({ ...gqa }, 3, prompt));
  }, 30_000);
});
