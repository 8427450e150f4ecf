/**
 * Quantized GGUF files against llama.cpp (node-llama-cpp's prebuilt CPU binary) on the same
 * file: greedy tokens identical until a near-tie (top-2 gap < 2e-3), log-probabilities within
 * a per-format tolerance (test/models/quant-compare.ts). Files come three ways:
 *   - written by our GGUF writer with our quantizer (every format, and the Q4_K_M mix);
 *   - written by llama.cpp's own llama-quantize from our f32 file, when a build is present
 *     ($LLAMA_QUANTIZE, else /work/llama-build/bin/llama-quantize; skipped with a note if not);
 *   - committed fixtures written by llama-quantize (test/models/fixtures/quant, README there),
 *     so a machine without a llama.cpp build still checks llama.cpp's quantizer output.
 * Tolerances: the largest |Δ log p| seen here, times about 3 (see TOLERANCE).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Llama } from 'node-llama-cpp';
import type { ModelConfig } from '../../src/models/config.js';
import { writeGguf } from '../../src/models/gguf.js';
import { loadGgufModel } from '../../src/models/gguf-loader.js';
import type { QuantScheme } from '../../src/models/quant-scheme.js';
import { syntheticTensors } from '../../src/models/synthetic.js';
import { compareRuns, runLlamaCpp, runOurs } from './quant-compare.js';

const NUM_TOKENS = 32;
/** Max |Δ log p| per file kind (measured: see the console lines of this test). */
const TOLERANCE: Record<string, number> = {
  q8_0: 2e-3, q4_0: 5e-3, q4_k: 5e-3, q5_k: 5e-3, q6_k: 5e-3, q4_k_m: 5e-3, q5_k_m: 5e-3,
  Q8_0: 2e-3, Q4_0: 5e-3, Q4_K_M: 5e-3, Q4_K_S: 5e-3, Q5_K_M: 5e-3, Q5_K_S: 5e-3, Q6_K: 5e-3,
};
const FIXTURES = join(import.meta.dirname, 'fixtures', 'quant');
const QUANTIZE = process.env.LLAMA_QUANTIZE ?? '/work/llama-build/bin/llama-quantize';
const dir = mkdtempSync(join(tmpdir(), 'quant-llamacpp-'));
let llama: Llama | undefined;

beforeAll(async () => {
  try {
    const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
    llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  } catch (error) {
    console.warn(`SKIPPED llama.cpp comparison: node-llama-cpp failed to load its prebuilt binary: ${String(error)}`);
  }
});
afterAll(async () => {
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** K-quant shapes need rows that are multiples of 256. */
const config: ModelConfig = {
  family: 'llama', vocabSize: 512, hiddenSize: 256, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 64, intermediateSize: 512,
  contextLength: 256, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: false, qkvBias: false,
};

async function expectAgreement(path: string, kind: string, vocabSize: number, seed: number): Promise<void> {
  const prompt = Array.from({ length: 20 }, (_, i) => 3 + ((i * 7919 + seed * 31) % (vocabSize - 3)));
  const ours = await runOurs(path, prompt, NUM_TOKENS);
  const theirs = await runLlamaCpp(llama!, path, prompt, NUM_TOKENS, vocabSize);
  const c = compareRuns(ours, theirs);
  if (process.env.QUANT_DEBUG) console.info(ours.logprobs.slice(0, 32).map((lp, i) => { let w = 0, at = 0; for (let j = 0; j < lp.length; j++) { const d = Math.abs(lp[j] - theirs.logprobs[i][j]); if (theirs.logprobs[i][j] > -13.8 && d > w) { w = d; at = j; } } return `${i}:${w.toExponential(1)}@${at}`; }).join(' '));
  console.info(`${kind} (${path.split('/').pop()}): ${c.agreed}/${NUM_TOKENS} tokens agree${c.parted ? `, parted at a top-2 gap of ${c.gapAtParting.toExponential(2)}` : ''}; max |Δ log p| ${c.maxLogprobDiff.toExponential(2)}`);
  if (c.parted) expect(c.partedAtNearTie, `runs part at step ${c.agreed} with a top-2 gap of ${c.gapAtParting}`).toBe(true);
  expect(c.agreed).toBeGreaterThan(0);
  expect(c.maxLogprobDiff).toBeLessThan(TOLERANCE[kind]);
}

/** Quantized weights stay quantized: the executor holds about the tensor bytes of the file. */
async function expectResidentNearFile(path: string): Promise<void> {
  const { NativeExecutor } = await import('../../src/executor/native.js');
  const model = await loadGgufModel(path);
  const ex = NativeExecutor.create({ config: model.config, tensors: model.tensors, numPages: 4, pageSize: 16, numThreads: 1, maxBatchTokens: 16, maxSeqs: 1 });
  try {
    const bytes = Object.values(model.tensors).reduce((a, t) => a + t.data.byteLength, 0);
    expect(ex.nativeInfo().weightBytes).toBeLessThanOrEqual(bytes);
    expect(ex.nativeInfo().weightBytes).toBeLessThan(statSync(path).size);
    expect(ex.nativeInfo().quantKernel).toBeDefined();
  } finally {
    ex.close();
  }
}

describe('files quantized by our writer', () => {
  const tensors = syntheticTensors(config, 11);
  const schemes: QuantScheme[] = ['q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k', 'q4_k_m'];
  for (const scheme of schemes) {
    it(`${scheme}: llama.cpp agrees; weights stay quantized`, async (ctx) => {
      const path = join(dir, `ours-${scheme}.gguf`);
      writeGguf(path, config, tensors, {}, { dtype: scheme });
      await expectResidentNearFile(path);
      if (!llama) ctx.skip();
      await expectAgreement(path, scheme, config.vocabSize, 11);
    }, 60_000);
  }
});

describe('files quantized by llama.cpp (llama-quantize)', () => {
  const types = ['Q8_0', 'Q4_0', 'Q4_K_M', 'Q4_K_S', 'Q5_K_M', 'Q6_K'];
  for (const type of types) {
    it(`${type}: llama.cpp agrees`, async (ctx) => {
      if (!existsSync(QUANTIZE)) {
        console.warn(`SKIPPED ${type}: no llama-quantize at ${QUANTIZE} (set LLAMA_QUANTIZE); the committed fixtures still run`);
        ctx.skip();
      }
      if (!llama) ctx.skip();
      const f32 = join(dir, 'for-quantize-f32.gguf');
      if (!existsSync(f32)) writeGguf(f32, config, syntheticTensors(config, 12), {}, { dtype: 'f32' });
      const path = join(dir, `llama-${type}.gguf`);
      execFileSync(QUANTIZE, [f32, path, type], { stdio: 'ignore' });
      await expectResidentNearFile(path);
      await expectAgreement(path, type, config.vocabSize, 12);
    }, 60_000);
  }
});

describe('committed llama-quantize fixtures', () => {
  const fixtures: Array<[string, string]> = [['q4_k_m.gguf', 'Q4_K_M'], ['q5_k_s.gguf', 'Q5_K_S'], ['q8_0.gguf', 'Q8_0'], ['q4_0.gguf', 'Q4_0']];
  for (const [file, kind] of fixtures) {
    it(`${file}: llama.cpp agrees`, async (ctx) => {
      const path = join(FIXTURES, file);
      await expectResidentNearFile(path);
      if (!llama) ctx.skip();
      const model = await loadGgufModel(path);
      await expectAgreement(path, kind, model.config.vocabSize, 13);
    }, 60_000);
  }
});
