/**
 * Proof against llama.cpp (node-llama-cpp 3.21.1, its prebuilt CPU binary): GGUF files
 * written by src/models/gguf.ts and loaded by our GGUF loader (adjacent-pair rotary,
 * ropeNeox = false, weights as stored) give the same greedy token ids as llama.cpp for 64
 * tokens, and the next-token distributions agree at every one of those steps.
 *
 * Logits: node-llama-cpp returns next-token probabilities (evaluateWithMetadata with
 * { probabilities: true } at temperature 0: a softmax of the raw logits over the whole
 * vocabulary, since the greedy chain alters nothing). Logits are known only up to a
 * constant, so we compare log-probabilities: ours = log-softmax of our raw logits,
 * theirs = log(p), over tokens with p > 1e-6 (where their float32 softmax still has digits).
 * llama.cpp's KV cache is set to f32 (experimentalKvCacheKeyType/ValueType), so the
 * remaining differences are summation order (its ggml kernels vs ours) and, for f16 files,
 * that ggml rounds the activations to f16 before an f16 matmul where we keep f32.
 * Tolerances (max |Δ log p|): 5e-5 for f32 files (largest seen 6.3e-6 over 64 steps),
 * 3e-2 for f16 files (largest seen 1.3e-2: f16 activations in ggml's f16 matmuls).
 *
 * The SentencePiece tokenizer is checked against llama.cpp's on the same GGUF vocabulary.
 * Skipped, with a message, only when node-llama-cpp cannot load its prebuilt binary.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Llama, Token } from 'node-llama-cpp';
import type { ModelConfig } from '../../src/models/config.js';
import { writeGguf } from '../../src/models/gguf.js';
import { loadGgufModel } from '../../src/models/gguf-loader.js';
import { syntheticTensors } from '../../src/models/synthetic.js';
import type { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece.js';
import { encodeGguf, learnedSpVocab, llamaMetadata, tokenizerMetadata, type RawTensor } from './gguf-fixtures.js';
import { maxDiff, runLlamaCpp, runOurs } from './quant-compare.js';

const NUM_TOKENS = 64;
const TOLERANCE = { f32: 5e-5, f16: 3e-2 } as const;
const dir = mkdtempSync(join(tmpdir(), 'llamacpp-'));
let llama: Llama | undefined;

beforeAll(async () => {
  try {
    const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
    llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  } catch (error) {
    console.warn(`SKIPPED llama.cpp proof: node-llama-cpp failed to load its prebuilt binary: ${String(error)}`);
  }
});
afterAll(async () => {
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const base: ModelConfig = {
  family: 'llama', vocabSize: 512, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, intermediateSize: 160,
  contextLength: 256, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: false, qkvBias: false,
};
const SHAPES: Array<{ name: string; config: ModelConfig; dtype: 'f32' | 'f16'; seed: number }> = [
  { name: 'GQA 4 heads / 2 kv heads, f32', config: base, dtype: 'f32', seed: 1 },
  { name: 'GQA 4 heads / 2 kv heads, f16', config: base, dtype: 'f16', seed: 1 },
  { name: 'MHA 6 heads of 16, 3 layers, theta 5e5, f32', config: { ...base, vocabSize: 1024, hiddenSize: 96, numLayers: 3, numHeads: 6, numKvHeads: 6, ropeTheta: 500000 }, dtype: 'f32', seed: 2 },
  { name: 'MQA 8 heads / 1 kv head of 32, tied embeddings, f16', config: { ...base, vocabSize: 384, hiddenSize: 128, numHeads: 8, numKvHeads: 1, headDim: 32, intermediateSize: 256, tieEmbeddings: true }, dtype: 'f16', seed: 3 },
];

describe('llama.cpp agrees with our GGUF loading', () => {
  for (const shape of SHAPES) {
    it(`${shape.name}: ${NUM_TOKENS} greedy tokens identical, log-probabilities within ${TOLERANCE[shape.dtype]} at every step`, async (ctx) => {
      if (!llama) ctx.skip();
      const path = join(dir, `${shape.seed}-${shape.dtype}.gguf`);
      writeGguf(path, shape.config, syntheticTensors(shape.config, shape.seed), {}, { dtype: shape.dtype });
      const prompt = Array.from({ length: 24 }, (_, i) => 3 + ((i * 7919 + shape.seed * 31) % (shape.config.vocabSize - 3)));
      expect((await loadGgufModel(path)).config.ropeNeox).toBe(false);
      const [a, b] = [await runOurs(path, prompt, NUM_TOKENS), await runLlamaCpp(llama!, path, prompt, NUM_TOKENS, shape.config.vocabSize)];
      expect(b.tokens).toEqual(a.tokens);
      const diffs = a.logprobs.map((lp, i) => maxDiff(lp, b.logprobs[i]));
      console.info(`${shape.name}: max |Δ log p| first step ${diffs[0].toExponential(2)}, over ${NUM_TOKENS} steps ${Math.max(...diffs).toExponential(2)}`);
      expect(diffs[0]).toBeLessThan(TOLERANCE[shape.dtype]);
      expect(Math.max(...diffs)).toBeLessThan(TOLERANCE[shape.dtype]);
    }, 30_000);
  }
});

describe('SentencePiece tokenizer agrees with llama.cpp on the same GGUF vocabulary', () => {
  const TEXTS = [
    'Hello world', 'The quick brown fox jumps over the lazy dog.', ' leading space', 'double  space and trailing ',
    'the then there these those', 'Caf\u00e9 na\u00efve r\u00e9sum\u00e9', 'emoji \u{1F600} and \u4e2d\u6587 fall back to bytes',
    'line\nbreaks\tand tabs', 'Numbers 1234 56789!', '', ' ', 'thethethe', '<s> is text here', 'a</s>b',
  ];

  it('token ids of plain text (llama.cpp tokenize without parsing special tokens) and of text with special tokens', async (ctx) => {
    if (!llama) ctx.skip();
    const vocab = learnedSpVocab(200);
    const config: ModelConfig = { ...base, vocabSize: vocab.tokens.length, numLayers: 1, ropeNeox: false };
    const tensors: RawTensor[] = Object.entries(syntheticTensors(config, 5)).map(([name, t]) => ({
      name, shape: t.shape, type: 0, data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
    }));
    const path = join(dir, 'tokenizer.gguf');
    writeFileSync(path, encodeGguf([...llamaMetadata(config), ...tokenizerMetadata(vocab)], tensors));
    const tokenizer = (await loadGgufModel(path)).tokenizer as SentencePieceTokenizer;
    const model = await llama!.loadModel({ modelPath: path, gpuLayers: 0 });
    try {
      for (const text of TEXTS) {
        for (const special of [false, true]) {
          const expected = Array.from(model.tokenize(text, special), Number);
          expect(tokenizer.encode(text, { addBos: false, allowSpecial: special }), `${JSON.stringify(text)} special=${special}`).toEqual(expected);
        }
        const ids = tokenizer.encode(text, { addBos: false, allowSpecial: false });
        expect(tokenizer.decode(ids), JSON.stringify(text)).toBe(model.detokenize(ids as Token[], false));
        const decoder = tokenizer.createDecoder(); // a continuation: the prefix space is kept
        const streamed = ids.map((id) => decoder.push(id)).join('') + decoder.flush();
        expect(streamed).toBe(text.length ? ' ' + text : '');
      }
      expect(tokenizer.encode('Hello world').slice(0, 1)).toEqual([1]); // add_bos_token
    } finally {
      await model.dispose();
    }
  }, 30_000);
});
