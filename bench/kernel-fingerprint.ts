/**
 * What the engine generates on this CPU, for comparing kernel paths and CPUs: a fixed set of
 * models (the embedded trained model, the gpt2-shaped tiny preset, a llama shape with grouped
 * heads, the committed quantized GGUF files), weight and KV dtypes, each with three requests
 * in one batch (two greedy, one sampled with a seed), and prints one JSON object: every
 * request's tokens and logprobs, and the kernel builds that ran (clonesUsed). The kernel is
 * whatever the engine picks (auto, or NANO_SERVING_KERNEL). test/native/portable-cpu.test.ts
 * runs it under an emulated CPU without AVX and compares with a forced-portable run here.
 *   node dist/bench/kernel-fingerprint.js [--quick]
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NanoServingEngine, type EngineOptions } from '../src/index.js';
import type { ModelConfig } from '../src/models/config.js';
import { loadNative } from '../src/native/load.js';
import type { KernelBuild, KernelFamily } from '../src/native/binding.js';

/** The package root: the nearest folder above this file (bench/ or dist/bench/) with a package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}
const ROOT = packageRoot();
const QUANT = join(ROOT, 'test', 'models', 'fixtures', 'quant');

/** Grouped-query attention, biases, a head size that is no multiple of 8, a window on one layer. */
const GQA: ModelConfig = {
  family: 'llama', vocabSize: 301, hiddenSize: 136, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 34,
  intermediateSize: 300, contextLength: 256, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: false, qkvBias: true,
};

export interface FingerprintCase {
  name: string;
  options: Pick<EngineOptions, 'model' | 'weightDtype' | 'kvDtype'>;
}

export const CASES: FingerprintCase[] = [
  { name: 'default f32, f32 KV', options: { model: 'default' } },
  { name: 'tiny bf16, f16 KV', options: { model: 'tiny', weightDtype: 'bf16', kvDtype: 'f16' } },
  { name: 'gqa f32, bf16 KV', options: { model: GQA, kvDtype: 'bf16' } },
  { name: 'q4_k_m.gguf, f16 KV', options: { model: join(QUANT, 'q4_k_m.gguf'), kvDtype: 'f16' } },
  { name: 'q8_0.gguf, f32 KV', options: { model: join(QUANT, 'q8_0.gguf') } },
  { name: 'q4_0.gguf, q8_0 KV', options: { model: join(QUANT, 'q4_0.gguf'), kvDtype: 'q8_0' } },
];

export interface RequestPrint { tokens: number[]; logprobs: number[] }
export interface Fingerprint {
  cases: Array<{ name: string; requests: RequestPrint[] }>;
  clonesUsed: Record<KernelFamily, KernelBuild[]>;
}

const PROMPTS = ['The portable path', 'Once upon a time, in a land of many caches and very long prompts,', 'x'];

/** Runs every case (or those named) with the engine's own kernel choice. */
export async function fingerprint(cases: FingerprintCase[] = CASES, maxTokens = 12): Promise<Fingerprint> {
  const native = loadNative();
  native.clonesUsed(true);
  const out: Fingerprint['cases'] = [];
  for (const c of cases) {
    const engine = await NanoServingEngine.create({ ...c.options, kvCachePages: 64, pageSize: 8, maxChunkSize: 16, threads: 2 });
    try {
      const handles = PROMPTS.map((prompt, i) =>
        engine.submit(prompt, i === 2 ? { maxTokens, temperature: 0.8, topP: 0.9, seed: 7, logprobs: 0 } : { maxTokens, temperature: 0, logprobs: 0 }));
      const results = await Promise.all(handles.map((h) => h.done));
      out.push({ name: c.name, requests: results.map((r) => ({ tokens: r.tokens, logprobs: (r.logprobs ?? []).map((l) => l.logprob) })) });
    } finally {
      await engine.close();
    }
  }
  return { cases: out, clonesUsed: native.clonesUsed(true) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const quick = process.argv.includes('--quick');
  const result = await fingerprint(quick ? CASES.slice(0, 2) : CASES, quick ? 6 : 12);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
