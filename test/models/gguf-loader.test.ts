/**
 * GGUF reading and loading: config, tensor views, f16 / q8_0, the tokenizers of both
 * GGUF kinds, the engine end to end, and every corruption a file can carry (each a
 * ModelLoadError naming the file and the problem; random byte damage never escapes as
 * another error).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../src/errors.js';
import { NanoServingEngine } from '../../src/index.js';
import { NativeExecutor } from '../../src/executor/native.js';
import type { StepInput } from '../../src/executor/step.js';
import type { ModelConfig, TensorMap } from '../../src/models/config.js';
import { writeGguf } from '../../src/models/gguf.js';
import { loadGgufModel } from '../../src/models/gguf-loader.js';
import { parseGguf } from '../../src/models/gguf-reader.js';
import { resolveModel } from '../../src/models/resolve.js';
import { syntheticTensors } from '../../src/models/synthetic.js';
import { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece.js';
import { HfTokenizer } from '../../src/tokenizer/hf-tokenizer.js';
import { BYTE_TO_CHAR } from '../../src/tokenizer/byte-level.js';
import { buildStep, GREEDY, pagesFor } from '../native/steps.js';
import { dequantize } from '../reference/dequant.js';
import {
  encodeGguf, f16Bytes, learnedSpVocab, llamaMetadata, q8_0Bytes, str, tokenizerMetadata, u32, type MetaValue, type RawTensor,
} from './gguf-fixtures.js';

const scratch = mkdtempSync(join(tmpdir(), 'gguf-loader-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const vocab = learnedSpVocab(120);
const config: ModelConfig = {
  family: 'llama', vocabSize: vocab.tokens.length, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 8,
  intermediateSize: 64, contextLength: 64, normEps: Math.fround(1e-5), ropeTheta: 10000, ropeNeox: false, tieEmbeddings: false, qkvBias: false,
};
const tensors = syntheticTensors(config, 7);

function raw(t: TensorMap, type: 'f32' | 'f16' | 'q8_0' = 'f32'): RawTensor[] {
  return Object.entries(t).map(([name, { shape, data }]) => {
    const f = data as Float32Array;
    const isMatrix = shape.length === 2;
    if (type === 'f16' && isMatrix) return { name, shape, type: 1, data: f16Bytes(f) };
    if (type === 'q8_0' && isMatrix) return { name, shape, type: 8, data: q8_0Bytes(f) };
    return { name, shape, type: 0, data: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) };
  });
}

const fullMeta = (): Array<[string, MetaValue]> => [...llamaMetadata(config), ...tokenizerMetadata(vocab)];
let fileCount = 0;
function file(bytes: Buffer): string {
  const path = join(scratch, `m${fileCount++}.gguf`);
  writeFileSync(path, bytes);
  return path;
}
const validBytes = encodeGguf(fullMeta(), raw(tensors));

async function loadError(bytes: Buffer): Promise<ModelLoadError> {
  const path = file(bytes);
  const err = await loadGgufModel(path).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ModelLoadError);
  expect((err as ModelLoadError).message).toContain(path);
  expect((err as ModelLoadError).file).toBe(path);
  return err as ModelLoadError;
}

/** One greedy sequence run on pages 0.. of 16 tokens, with logits. */
function step(tokens: number[], start: number): StepInput {
  const pages = Array.from({ length: pagesFor(start + tokens.length, 16) }, (_, i) => i);
  return buildStep([{ seq: 0, tokens, startPos: start, pages, isSampled: true, sampling: GREEDY }]);
}

async function firstLogits(c: ModelConfig, t: TensorMap, prompt: number[]): Promise<Float32Array> {
  const ex = NativeExecutor.create({ config: c, tensors: t, numPages: 4, pageSize: 16, numThreads: 1, maxBatchTokens: 64, maxSeqs: 1, kernel: 'portable' });
  try {
    return (await ex.step(step(prompt, 0))).logits!;
  } finally {
    ex.close();
  }
}

describe('loadGgufModel', () => {
  it('maps llama metadata to the config (adjacent-pair rotary) and reads f32 tensors as views of one buffer', async () => {
    const model = await loadGgufModel(file(validBytes));
    expect(model.config).toEqual(config);
    expect(model.name).toBe('fixture');
    const buffers = new Set(Object.values(model.tensors).map((t) => t.data.buffer));
    expect(buffers.size).toBe(1);
    for (const [name, t] of Object.entries(tensors)) {
      expect(model.tensors[name].shape).toEqual(t.shape);
      expect(model.tensors[name].data).toEqual(t.data);
    }
    expect(model.generation).toEqual({ eosTokenIds: [2], bosTokenId: 1 });
    expect(model.specialTokens).toEqual({ bos: '<s>', eos: '</s>' });
    expect(model.tokenizer).toBeInstanceOf(SentencePieceTokenizer);
    expect(model.tokenizer.eosTokenIds).toEqual([2]);
  });

  it('f32 GGUF logits are bitwise those of the same weights given directly', async () => {
    const model = await loadGgufModel(file(validBytes));
    const prompt = [1, 300, 17, 42, 299, 5];
    expect(await firstLogits(model.config, model.tensors, prompt)).toEqual(await firstLogits(config, tensors, prompt));
  });

  it('f16 tensors stay f16 views; q8_0 stays quantized (views of its blocks), within half a quantization step', async () => {
    const f16 = await loadGgufModel(file(encodeGguf(fullMeta(), raw(tensors, 'f16'))));
    const q = f16.tensors['blk.0.attn_q.weight'];
    expect(q.dtype).toBe('f16');
    expect(q.data).toBeInstanceOf(Uint16Array);
    const q8 = await loadGgufModel(file(encodeGguf(fullMeta(), raw(tensors, 'q8_0'))));
    const w = q8.tensors['blk.1.ffn_down.weight'];
    const orig = tensors['blk.1.ffn_down.weight'].data as Float32Array;
    expect(w.dtype).toBe('q8_0');
    expect(w.data).toBeInstanceOf(Uint8Array);
    const values = dequantize('q8_0', w.data as Uint8Array);
    for (let b = 0; b < orig.length / 32; b++) {
      const block = orig.subarray(b * 32, b * 32 + 32);
      const step = Math.max(...Array.from(block, Math.abs)) / 127;
      for (let i = 0; i < 32; i++) expect(Math.abs(values[b * 32 + i] - block[i])).toBeLessThanOrEqual(step * (0.5 + 127 * 2 ** -11)) // half a step, plus the f16 rounding of the scale;
    }
    const prompt = [1, 300, 17, 42];
    const [a, b] = [await firstLogits(q8.config, q8.tensors, prompt), await firstLogits(config, tensors, prompt)];
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeLessThan(0.15); // activations are quantized to 8 bits too (as llama.cpp does)
  });

  it('reads GGUF v2 and a custom general.alignment', async () => {
    const v2 = await loadGgufModel(file(encodeGguf(fullMeta(), raw(tensors), { version: 2 })));
    expect(v2.config).toEqual(config);
    const aligned = encodeGguf([...fullMeta(), ['general.alignment', u32(64)]], raw(tensors), { alignment: 64 });
    const model = await loadGgufModel(file(aligned));
    expect(model.tensors['output.weight'].data).toEqual(tensors['output.weight'].data);
    const badAlignment = encodeGguf([...fullMeta(), ['general.alignment', u32(48)]], raw(tensors));
    expect((await loadError(badAlignment)).message).toMatch(/general.alignment must be a power of two, got 48/);
  });

  it('a missing output.weight means tied embeddings', async () => {
    const noOutput = raw(tensors).filter((t) => t.name !== 'output.weight');
    const model = await loadGgufModel(file(encodeGguf(fullMeta(), noOutput)));
    expect(model.config.tieEmbeddings).toBe(true);
    expect(model.tensors['output.weight']).toBeUndefined();
  });

  it('loads files from the benchmark writer (src/models/gguf.ts), f32 and f16', async () => {
    const c = { ...config, ropeNeox: true, vocabSize: 300 };
    for (const dtype of ['f32', 'f16'] as const) {
      const path = join(scratch, `writer-${dtype}.gguf`);
      writeGguf(path, c, syntheticTensors(c, 3), {}, { dtype });
      const model = await loadGgufModel(path);
      expect(model.config).toEqual({ ...c, ropeNeox: false });
      expect(model.tensors['blk.0.ffn_up.weight'].dtype).toBe(dtype);
      // that vocabulary has no merges for text: "▁hi" falls back to its UTF-8 bytes
      expect(model.tokenizer.encode('hi', { addBos: false })).toEqual([0xe2, 0x96, 0x81, 0x68, 0x69].map((b) => 3 + b));
    }
  });

  it('a "gpt2" tokenizer becomes byte-level BPE with the GGUF merges', async () => {
    const tokens = [...BYTE_TO_CHAR, '\u0120t', 'he', '\u0120the', '<|endoftext|>'];
    const types = tokens.map((_, i) => (i === tokens.length - 1 ? 3 : 1));
    const meta: Array<[string, MetaValue]> = [
      ...llamaMetadata({ ...config, vocabSize: tokens.length }),
      ['tokenizer.ggml.model', str('gpt2')],
      ['tokenizer.ggml.tokens', { t: 'arr', of: 'str', v: tokens }],
      ['tokenizer.ggml.token_type', { t: 'arr', of: 'i32', v: types }],
      ['tokenizer.ggml.merges', { t: 'arr', of: 'str', v: ['\u0120 t', 'h e', '\u0120t he'] }],
      ['tokenizer.ggml.eos_token_id', u32(tokens.length - 1)],
    ];
    const c = { ...config, vocabSize: tokens.length };
    const model = await loadGgufModel(file(encodeGguf(meta, raw(syntheticTensors(c, 1)))));
    expect(model.tokenizer).toBeInstanceOf(HfTokenizer);
    const ids = model.tokenizer.encode('the the<|endoftext|>');
    expect(ids).toEqual([0x74, 257, 258, 259]);
    expect((model.tokenizer as HfTokenizer).decode(ids)).toBe('the the<|endoftext|>');
    expect(model.tokenizer.eosTokenIds).toEqual([259]);
  });

  it('routes *.gguf through resolveModel and serves text end to end', async () => {
    const path = file(validBytes);
    expect((await resolveModel(path)).config).toEqual(config);
    const engine = await NanoServingEngine.create({ model: path, threads: 1, kvCachePages: 16 });
    try {
      const result = await engine.submit('Hello world', { maxTokens: 5, temperature: 0, ignoreEos: true }).done;
      expect(result.tokens).toHaveLength(5);
    } finally {
      await engine.close();
    }
  });
});

describe('corrupt GGUF files', () => {
  const patched = (at: number, write: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(validBytes);
    write(b.subarray(at));
    return b;
  };
  const headerKeyAt = (key: string): number => validBytes.indexOf(Buffer.from(key)) + key.length;

  it('names bad magic, unknown versions (v1, big-endian) and truncation', async () => {
    expect((await loadError(patched(0, (b) => b.write('GGML')))).message).toMatch(/bad magic "GGML"/);
    expect((await loadError(patched(4, (b) => b.writeUInt32LE(1)))).message).toMatch(/unknown GGUF version 1 .*v1/);
    expect((await loadError(patched(4, (b) => b.writeUInt32LE(0x03000000)))).message).toMatch(/big-endian/);
    expect((await loadError(validBytes.subarray(0, 3))).message).toMatch(/bad magic/);
    expect((await loadError(validBytes.subarray(0, 100))).message).toMatch(/truncated/);
    expect((await loadError(validBytes.subarray(0, validBytes.length - 1))).message).toMatch(/truncated or corrupt: tensor output.weight .* runs past the end/);
  });

  it('every truncation is a ModelLoadError', async () => {
    for (let len = 0; len < validBytes.length; len += Math.max(1, Math.floor(len / 7))) {
      expect(() => parseGguf(validBytes.subarray(0, len), 'x.gguf')).toThrow(ModelLoadError);
    }
  });

  it('names corrupt counts, lengths and value types', async () => {
    expect((await loadError(patched(8, (b) => b.writeBigUInt64LE(1n << 60n)))).message).toMatch(/truncated or corrupt: tensor count/);
    expect((await loadError(patched(16, (b) => b.writeBigUInt64LE(1n << 40n)))).message).toMatch(/truncated or corrupt: metadata count/);
    expect((await loadError(patched(24, (b) => b.writeBigUInt64LE(1n << 50n)))).message).toMatch(/truncated: metadata key 0/);
    expect((await loadError(patched(headerKeyAt('general.architecture'), (b) => b.writeUInt32LE(99)))).message)
      .toMatch(/general.architecture has unknown value type 99/);
    const tokensAt = headerKeyAt('tokenizer.ggml.tokens');
    expect((await loadError(patched(tokensAt + 8, (b) => b.writeBigUInt64LE(1n << 40n)))).message)
      .toMatch(/truncated or corrupt: array length of tokenizer.ggml.tokens/);
    expect((await loadError(patched(tokensAt + 4, (b) => b.writeUInt32LE(77)))).message).toMatch(/unknown element type 77/);
  });

  it('names unknown and unsupported tensor types, bad offsets, duplicate names', async () => {
    const one = raw(tensors);
    const typed = (type: number): RawTensor[] => one.map((t) => (t.name === 'blk.0.attn_k.weight' ? { ...t, type } : t));
    expect((await loadError(encodeGguf(fullMeta(), typed(99)))).message).toMatch(/tensor blk.0.attn_k.weight: unknown tensor type 99/);
    const q41 = one.map((t) => (t.name === 'blk.0.attn_k.weight' ? { ...t, type: 3, data: t.data.subarray(0, (t.data.length / 4 / 32) * 20) } : t));
    expect((await loadError(encodeGguf(fullMeta(), q41))).message)
      .toMatch(/blk.0.attn_k.weight has type Q4_1, which is not supported \(F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K\)/);
    const at = validBytes.indexOf(Buffer.from('blk.0.attn_k.weight')) + 'blk.0.attn_k.weight'.length + 4 + 16 + 4;
    expect((await loadError(patched(at, (b) => b.writeBigUInt64LE(b.readBigUInt64LE(0) + 4n)))).message).toMatch(/not a multiple of the alignment 32/);
    const dup = [...one, one[0]];
    expect((await loadError(encodeGguf(fullMeta(), dup))).message).toMatch(/duplicate tensor/);
  });

  it('names missing tensors, wrong shapes, unknown architectures, missing keys, vocab mismatch', async () => {
    const without = raw(tensors).filter((t) => t.name !== 'blk.1.ffn_gate.weight');
    expect((await loadError(encodeGguf(fullMeta(), without))).message).toMatch(/missing tensor blk.1.ffn_gate.weight/);
    const wrong = raw(tensors).map((t) => (t.name === 'blk.0.attn_v.weight' ? { ...t, shape: [t.shape[1], t.shape[0]] } : t));
    expect((await loadError(encodeGguf(fullMeta(), wrong))).message).toMatch(/tensor blk.0.attn_v.weight has shape \[32,16\], expected \[16,32\]/);
    const arch = fullMeta().map(([k, v]): [string, MetaValue] => (k === 'general.architecture' ? [k, str('mamba')] : [k, v]));
    expect((await loadError(encodeGguf(arch, raw(tensors)))).message).toMatch(/unknown architecture "mamba" \(supported: llama\)/);
    const noHeads = fullMeta().filter(([k]) => k !== 'llama.attention.head_count');
    expect((await loadError(encodeGguf(noHeads, raw(tensors)))).message).toMatch(/missing metadata llama.attention.head_count/);
    const small = fullMeta().concat([['llama.vocab_size', u32(100)]]);
    expect((await loadError(encodeGguf(small, raw(tensors)))).message).toMatch(/vocab mismatch|expected \[100/);
    const tok = fullMeta().map(([k, v]): [string, MetaValue] => (k === 'tokenizer.ggml.model' ? [k, str('bert')] : [k, v]));
    expect((await loadError(encodeGguf(tok, raw(tensors)))).message).toMatch(/unknown tokenizer.ggml.model "bert"/);
  });

  it('random byte damage loads or fails with a ModelLoadError, never another error', async () => {
    let state = 12345;
    const rand = (n: number): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state % n;
    };
    const headerEnd = validBytes.indexOf(Buffer.from('output.weight')) + 64;
    for (let i = 0; i < 150; i++) {
      const b = Buffer.from(validBytes);
      for (let k = 0; k < 3; k++) b[rand(headerEnd)] = rand(256);
      const err = await loadGgufModel(file(b)).then(() => undefined, (e: unknown) => e);
      if (err !== undefined) expect(err, String(err)).toBeInstanceOf(ModelLoadError);
    }
  });
});
