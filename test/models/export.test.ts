/**
 * Export round trips: a preset exported as a Hugging Face folder or a GGUF file and loaded
 * back through the loaders gives the preset's logits (bitwise for f32), with a working
 * byte-level tokenizer; the CLI entry point validates its flags.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../src/errors.js';
import { NativeExecutor } from '../../src/executor/native.js';
import type { StepInput } from '../../src/executor/step.js';
import type { ModelConfig, TensorMap } from '../../src/models/config.js';
import { exportModel, runExport } from '../../src/models/export.js';
import { loadGgufModel } from '../../src/models/gguf-loader.js';
import { loadHfModel } from '../../src/models/hf.js';
import { presetConfig } from '../../src/models/presets.js';
import { f32ToBf16 } from '../../src/models/safetensors-writer.js';
import { syntheticTensors } from '../../src/models/synthetic.js';

const scratch = mkdtempSync(join(tmpdir(), 'export-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const PROMPT = [72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100, 33];

function step(tokens: number[]): StepInput {
  const pages = Math.ceil(tokens.length / 16);
  return {
    tokens: Int32Array.from(tokens), positions: Int32Array.from(tokens, (_, i) => i), seqStart: Int32Array.of(0, tokens.length),
    pageTable: Int32Array.from({ length: pages }, (_, i) => i), pageStart: Int32Array.of(0, pages), isSampled: Uint8Array.of(1),
    temperature: Float32Array.of(0), topK: Int32Array.of(0), topP: Float32Array.of(1), minP: Float32Array.of(0), seed: Float64Array.of(0),
    presencePenalty: Float32Array.of(0), frequencyPenalty: Float32Array.of(0), repetitionPenalty: Float32Array.of(1),
    historyTokens: new Int32Array(0), historyStart: new Int32Array(2), historyPromptLen: new Int32Array(1), numTopLogprobs: Int32Array.of(0),
    returnLogits: true,
  };
}

async function logits(config: ModelConfig, tensors: TensorMap): Promise<Float32Array> {
  const ex = NativeExecutor.create({ config, tensors, numPages: 2, pageSize: 16, numThreads: 1, maxBatchTokens: 16, maxSeqs: 1 });
  try {
    return (await ex.step(step(PROMPT))).logits!;
  } finally {
    ex.close();
  }
}

const small = presetConfig('small');

describe('exportModel', () => {
  it('small preset -> safetensors f32 folder -> loadHfModel: same config, bitwise logits, a byte-level tokenizer', async () => {
    const outDir = join(scratch, 'small-f32');
    const result = exportModel({ preset: 'small', format: 'safetensors', outDir, seed: 4 });
    for (const name of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
      expect(existsSync(join(outDir, name))).toBe(true);
    }
    expect(result.model).toBe(outDir);
    const model = await loadHfModel(outDir);
    expect(model.config).toEqual(small);
    expect(await logits(model.config, model.tensors)).toEqual(await logits(small, syntheticTensors(small, 4)));
    expect(model.tokenizer.vocabSize).toBe(small.vocabSize);
    expect(model.generation.eosTokenIds).toEqual([small.vocabSize - 1]);
    const text = 'Hello, world! caf\u00e9 \u{1F600}';
    const ids = model.tokenizer.encode(text);
    expect(ids.length).toBeLessThan(Buffer.byteLength(text)); // the filler merges apply
    expect(model.tokenizer.decode(ids)).toBe(text);
    expect(model.tokenizer.encode('\u0000\u00ff')).toEqual([0, 0xc3, 0xbf]); // ids 0..255 are the bytes
  });

  it('bf16 safetensors hold the f32 weights rounded to nearest even', async () => {
    const config: ModelConfig = { ...small, vocabSize: 2048, numLayers: 2 };
    const outDir = join(scratch, 'bf16');
    exportModel({ config, format: 'safetensors', outDir, dtype: 'bf16', seed: 1 });
    const model = await loadHfModel(outDir);
    const source = syntheticTensors(config, 1);
    for (const [name, t] of Object.entries(model.tensors)) {
      expect(t.dtype).toBe('bf16');
      const expected = f32ToBf16(source[name].data as Float32Array);
      expect(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(expected.buffer)), name).toBe(true);
    }
    const [a, b] = [await logits(model.config, model.tensors), await logits(config, source)];
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeLessThan(0.1);
  });

  it('the tiny gpt2 preset round trips through GPT2LMHeadModel bitwise', async () => {
    const tiny = presetConfig('tiny');
    const outDir = join(scratch, 'tiny');
    exportModel({ preset: 'tiny', format: 'safetensors', outDir });
    const model = await loadHfModel(outDir);
    expect(model.config).toEqual({ ...tiny, ropeNeox: false, qkvBias: true });
    expect(await logits(model.config, model.tensors)).toEqual(await logits(tiny, syntheticTensors(tiny, 0)));
  });

  it('small preset -> GGUF f32 -> loadGgufModel: adjacent-pair rotary on permuted rows gives the same logits', async () => {
    const result = exportModel({ preset: 'small', format: 'gguf', outDir: join(scratch, 'gguf'), seed: 2 });
    const model = await loadGgufModel(result.model);
    expect(model.config).toEqual({ ...small, ropeNeox: false, normEps: Math.fround(small.normEps) });
    const [a, b] = [await logits(model.config, model.tensors), await logits(small, syntheticTensors(small, 2))];
    const worst = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
    console.info(`small preset via GGUF: max |Δ logit| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-4); // not bitwise: Q/K rows are permuted, so each q.k sums in another order
  });

  it('a config with adjacent-pair rotary (ropeNeox false) round trips through GGUF bitwise', async () => {
    const config: ModelConfig = { ...small, vocabSize: 1024, numLayers: 2, numKvHeads: 3, ropeNeox: false, normEps: Math.fround(1e-5) };
    const result = exportModel({ config, format: 'gguf', outDir: join(scratch, 'gguf-adjacent'), seed: 6 });
    const model = await loadGgufModel(result.model);
    expect(model.config).toEqual(config);
    expect(await logits(model.config, model.tensors)).toEqual(await logits(config, syntheticTensors(config, 6)));
  });

  it('a GGUF-style config (adjacent-pair rotary) exports to HF half-split rows and back', async () => {
    const config: ModelConfig = { ...small, vocabSize: 1024, numLayers: 2, numKvHeads: 2, ropeNeox: false };
    const outDir = join(scratch, 'adjacent');
    exportModel({ config, format: 'safetensors', outDir, seed: 3 });
    const model = await loadHfModel(outDir);
    expect(model.config.ropeNeox).toBe(true);
    const [a, b] = [await logits(model.config, model.tensors), await logits(config, syntheticTensors(config, 3))];
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeLessThan(1e-4);
  });
});

describe('runExport (the CLI subcommand)', () => {
  it('parses flags and writes the export', () => {
    const outDir = join(scratch, 'cli');
    const result = runExport(['--config', 'c.json', '--format', 'gguf', '--out', outDir, '--seed', '5'], () => ({ ...small, vocabSize: 512, numLayers: 1 }));
    expect(result.model).toBe(join(outDir, 'model.gguf'));
  }, 10_000);

  it('rejects bad flags with InvalidRequestError', () => {
    expect(() => runExport(['--preset', 'small', '--format', 'onnx', '--out', scratch])).toThrow(/--format must be safetensors or gguf/);
    expect(() => runExport(['--preset', 'small', '--format', 'gguf'])).toThrow(/--out DIR is required/);
    expect(() => runExport(['--bogus', 'x'])).toThrow(InvalidRequestError);
    expect(() => runExport(['--preset', 'huge', '--format', 'gguf', '--out', scratch])).toThrow(/unknown model preset 'huge'/);
    expect(() => runExport(['--preset', 'small', '--format', 'gguf', '--out', scratch, '--dtype', 'bf16'])).toThrow(/f32 or f16/);
  });
});
