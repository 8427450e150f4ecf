import { copyFileSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../src/errors.js';
import { loadHfModel } from '../../src/models/hf.js';
import { parseSafetensors } from '../../src/models/safetensors.js';

const defaultDir = join(import.meta.dirname, '..', '..', 'src', 'models', 'default');
const scratch = mkdtempSync(join(tmpdir(), 'hf-loader-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

type Raw = { dtype: 'F32' | 'F16' | 'BF16' | string; shape: number[]; data?: Float32Array };

/** A safetensors file; f32 tensors carry `data` (or 0, 1, 2, ...), 16-bit ones zeros. `pad` misaligns the data section. */
function safetensors(tensors: Record<string, Raw>, pad = 0): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const blobs: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const blob = t.dtype === 'F32'
      ? Buffer.from((t.data ?? Float32Array.from({ length: numel }, (_, i) => i)).buffer)
      : Buffer.alloc(numel * 2);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + blob.length] };
    blobs.push(blob);
    offset += blob.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8 + pad);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, Buffer.from(json), ...blobs]);
}

const H = 8, V = 1024, F = 16;
const llamaConfig = {
  architectures: ['LlamaForCausalLM'], vocab_size: V, hidden_size: H, intermediate_size: F, num_hidden_layers: 1,
  num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 64, rms_norm_eps: 1e-5, tie_word_embeddings: true,
  eos_token_id: 1023,
};

function llamaTensors(dtype = 'BF16'): Record<string, Raw> {
  const l = 'model.layers.0.';
  return {
    'model.embed_tokens.weight': { dtype, shape: [V, H] },
    [l + 'input_layernorm.weight']: { dtype, shape: [H] },
    [l + 'self_attn.q_proj.weight']: { dtype, shape: [H, H] },
    [l + 'self_attn.k_proj.weight']: { dtype, shape: [4, H] },
    [l + 'self_attn.v_proj.weight']: { dtype, shape: [4, H] },
    [l + 'self_attn.o_proj.weight']: { dtype, shape: [H, H] },
    [l + 'post_attention_layernorm.weight']: { dtype, shape: [H] },
    [l + 'mlp.gate_proj.weight']: { dtype, shape: [F, H] },
    [l + 'mlp.up_proj.weight']: { dtype, shape: [F, H] },
    [l + 'mlp.down_proj.weight']: { dtype, shape: [H, F] },
    'model.norm.weight': { dtype, shape: [H] },
    'model.layers.0.self_attn.rotary_emb.inv_freq': { dtype: 'F32', shape: [2] },
  };
}

let dirCount = 0;
/** A model folder: config.json, model.safetensors (or the given files), the default tokenizer. */
function folder(config: object, files: Record<string, Buffer | string>): string {
  const dir = join(scratch, `m${dirCount++}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  copyFileSync(join(defaultDir, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
  return dir;
}

async function loadError(dir: string): Promise<ModelLoadError> {
  const err = await loadHfModel(dir).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ModelLoadError);
  return err as ModelLoadError;
}

describe('loadHfModel on the embedded default model', () => {
  it('maps config.json, tensors, tokenizer and generation defaults', async () => {
    const m = await loadHfModel(defaultDir);
    expect(m.config).toEqual({
      family: 'llama', vocabSize: 1024, hiddenSize: 256, numLayers: 6, numHeads: 8, numKvHeads: 4, headDim: 32,
      intermediateSize: 768, contextLength: 512, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: true, qkvBias: false,
    });
    expect(Object.keys(m.tensors)).toHaveLength(2 + 6 * 9);
    expect(m.tensors['output.weight']).toBeUndefined();
    const k = m.tensors['blk.5.attn_k.weight'];
    expect(k.shape).toEqual([128, 256]);
    expect(k.dtype).toBe('bf16');
    expect(k.data).toBeInstanceOf(Uint16Array);
    expect(m.generation.eosTokenIds).toEqual([1023]);
    expect(m.tokenizer.eosTokenIds).toEqual([1023]);
    expect(m.tokenizer.vocabSize).toBe(1024);
    expect(m.specialTokens).toEqual({ bos: '<|endoftext|>', eos: '<|endoftext|>' });
  });
});

describe('loadHfModel on small synthetic folders', () => {
  it('loads llama with f32, keeps views into one buffer, and ignores buffers like rotary inv_freq', async () => {
    const m = await loadHfModel(folder(llamaConfig, { 'model.safetensors': safetensors(llamaTensors('F32')) }));
    expect(m.config.numKvHeads).toBe(1);
    const emb = m.tensors['token_embd.weight'];
    expect(emb.data).toBeInstanceOf(Float32Array);
    expect(emb.data[5]).toBe(5);
    expect(m.tensors['blk.0.attn_q.weight'].data.buffer).toBe(emb.data.buffer);
  });

  it('copies a tensor whose data is misaligned', async () => {
    const file = safetensors({ a: { dtype: 'F32', shape: [3] }, b: { dtype: 'BF16', shape: [1] }, c: { dtype: 'F32', shape: [2] } }, 1);
    const tensors = parseSafetensors(file, 'x.safetensors');
    expect(Array.from(tensors.get('a')!.data)).toEqual([0, 1, 2]);
    expect(Array.from(tensors.get('c')!.data)).toEqual([0, 1]);
  });

  it('reads shards listed in model.safetensors.index.json', async () => {
    const all = llamaTensors();
    const names = Object.keys(all);
    const first = Object.fromEntries(names.slice(0, 5).map((n) => [n, all[n]]));
    const second = Object.fromEntries(names.slice(5).map((n) => [n, all[n]]));
    const weight_map = Object.fromEntries(names.map((n, i) => [n, i < 5 ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors']));
    const dir = folder(llamaConfig, {
      'model-00001-of-00002.safetensors': safetensors(first),
      'model-00002-of-00002.safetensors': safetensors(second),
      'model.safetensors.index.json': JSON.stringify({ metadata: {}, weight_map }),
    });
    expect(Object.keys((await loadHfModel(dir)).tensors)).toHaveLength(11);
    unlinkSync(join(dir, 'model-00002-of-00002.safetensors'));
    expect((await loadError(dir)).file).toBe(join(dir, 'model-00002-of-00002.safetensors'));
  });

  it('loads Qwen2 with q/k/v biases and an untied lm_head', async () => {
    const t: Record<string, Raw> = { ...llamaTensors(), 'lm_head.weight': { dtype: 'BF16', shape: [V, H] } };
    for (const [p, rows] of [['q', H], ['k', 4], ['v', 4]] as const) t[`model.layers.0.self_attn.${p}_proj.bias`] = { dtype: 'BF16', shape: [rows] };
    const config = { ...llamaConfig, architectures: ['Qwen2ForCausalLM'], tie_word_embeddings: false, sliding_window: 32, use_sliding_window: false };
    const m = await loadHfModel(folder(config, { 'model.safetensors': safetensors(t) }));
    expect(m.config.qkvBias).toBe(true);
    expect(m.config.contextLength).toBe(64);
    expect(m.tensors['output.weight'].shape).toEqual([V, H]);
    expect(m.tensors['blk.0.attn_k.bias'].shape).toEqual([4]);
  });

  it('loads GPT-2: Conv1D weights transposed to [out, in], fused c_attn split into q, k, v', async () => {
    const c_attn = Float32Array.from({ length: H * 3 * H }, (_, i) => i); // [in=H, out=3H], value = in*3H + out
    const c_fc = Float32Array.from({ length: H * F }, (_, i) => i);
    const t: Record<string, Raw> = {
      'transformer.wte.weight': { dtype: 'F32', shape: [V, H] }, 'transformer.wpe.weight': { dtype: 'F32', shape: [64, H] },
      'transformer.ln_f.weight': { dtype: 'F32', shape: [H] }, 'transformer.ln_f.bias': { dtype: 'F32', shape: [H] },
      'transformer.h.0.attn.bias': { dtype: 'F32', shape: [1, 1, 4, 4] },
    };
    const layer: Record<string, Raw> = {
      'ln_1.weight': { dtype: 'F32', shape: [H] }, 'ln_1.bias': { dtype: 'F32', shape: [H] },
      'ln_2.weight': { dtype: 'F32', shape: [H] }, 'ln_2.bias': { dtype: 'F32', shape: [H] },
      'attn.c_attn.weight': { dtype: 'F32', shape: [H, 3 * H], data: c_attn }, 'attn.c_attn.bias': { dtype: 'F32', shape: [3 * H] },
      'attn.c_proj.weight': { dtype: 'F32', shape: [H, H] }, 'attn.c_proj.bias': { dtype: 'F32', shape: [H] },
      'mlp.c_fc.weight': { dtype: 'F32', shape: [H, F], data: c_fc }, 'mlp.c_fc.bias': { dtype: 'F32', shape: [F] },
      'mlp.c_proj.weight': { dtype: 'F32', shape: [F, H] }, 'mlp.c_proj.bias': { dtype: 'F32', shape: [H] },
    };
    for (const [k, v] of Object.entries(layer)) t[`transformer.h.0.${k}`] = v;
    const config = { architectures: ['GPT2LMHeadModel'], vocab_size: V, n_embd: H, n_layer: 1, n_head: 2, n_positions: 64, n_inner: F, eos_token_id: 1023 };
    const m = await loadHfModel(folder(config, { 'model.safetensors': safetensors(t) }));
    expect(m.config.family).toBe('gpt2');
    expect(m.config.intermediateSize).toBe(F);
    const k = m.tensors['blk.0.attn_k.weight'];
    expect(k.shape).toEqual([H, H]);
    // k row o (output H+o), column i (input i) = c_attn[i][H + o]
    expect(k.data[2 * H + 3]).toBe(3 * (3 * H) + H + 2);
    expect(m.tensors['blk.0.attn_v.bias'].data[0]).toBe(2 * H);
    expect(m.tensors['blk.0.ffn_up.weight'].shape).toEqual([F, H]);
    expect(m.tensors['blk.0.ffn_up.weight'].data[1 * H + 0]).toBe(1);
    expect(m.tensors['blk.0.ffn_down.weight'].shape).toEqual([H, F]);
  });
});

describe('loadHfModel: every bad folder is a ModelLoadError naming the file', () => {
  const good = (): Buffer => safetensors(llamaTensors());
  const weights = (dir: string): string => join(dir, 'model.safetensors');

  it('missing config.json, weights or tokenizer', async () => {
    const dir = folder(llamaConfig, { 'model.safetensors': good() });
    unlinkSync(join(dir, 'tokenizer.json'));
    expect((await loadError(dir)).message).toMatch(/tokenizer\.json: file not found/);
    const noWeights = folder(llamaConfig, {});
    expect((await loadError(noWeights)).file).toBe(weights(noWeights));
    const noConfig = folder(llamaConfig, { 'model.safetensors': good() });
    unlinkSync(join(noConfig, 'config.json'));
    expect((await loadError(noConfig)).file).toBe(join(noConfig, 'config.json'));
  });

  const corruptions: Array<[string, (b: Buffer) => Buffer, RegExp]> = [
    ['a truncated file', (b) => b.subarray(0, b.length - 100), /out of range.*truncated/],
    ['a file shorter than 8 bytes', (b) => b.subarray(0, 5), /truncated/],
    ['corrupt header JSON', (b) => { const c = Buffer.from(b); c.write('!!', 8); return c; }, /corrupt header JSON/],
    ['a header length past EOF', (b) => { const c = Buffer.from(b); c.writeBigUInt64LE(BigInt(b.length)); return c; }, /header length \d+ runs past the end/],
    ['data offsets out of range', (b) => rewriteHeader(b, (h) => { (h['model.norm.weight'] as { data_offsets: number[] }).data_offsets = [0, 1e9]; }), /model\.norm\.weight: data_offsets \[0, 1000000000\] out of range/],
    ['an unknown dtype', (b) => rewriteHeader(b, (h) => { (h['model.norm.weight'] as { dtype: string }).dtype = 'Q4_K'; }), /unknown dtype "Q4_K"/],
  ];
  it.each(corruptions)('%s', async (_, corrupt, message) => {
    const dir = folder(llamaConfig, { 'model.safetensors': corrupt(good()) });
    const err = await loadError(dir);
    expect(err.file).toBe(weights(dir));
    expect(err.message).toContain(weights(dir));
    expect(err.message).toMatch(message);
  });

  it('an unknown architecture', async () => {
    const dir = folder({ ...llamaConfig, architectures: ['FalconForCausalLM'] }, { 'model.safetensors': good() });
    const err = await loadError(dir);
    expect(err.file).toBe(join(dir, 'config.json'));
    expect(err.message).toMatch(/unknown architecture "FalconForCausalLM"/);
  });

  it('a missing tensor', async () => {
    const t = llamaTensors();
    delete t['model.layers.0.mlp.gate_proj.weight'];
    const dir = folder(llamaConfig, { 'model.safetensors': safetensors(t) });
    const err = await loadError(dir);
    expect(err.file).toBe(weights(dir));
    expect(err.message).toMatch(/missing tensor blk\.0\.ffn_gate\.weight \(model\.layers\.0\.mlp\.gate_proj\.weight\)/);
  });

  it('a tensor of the wrong shape', async () => {
    const t = llamaTensors();
    t['model.layers.0.self_attn.k_proj.weight'].shape = [H, H];
    const dir = folder(llamaConfig, { 'model.safetensors': safetensors(t) });
    const err = await loadError(dir);
    expect(err.file).toBe(weights(dir));
    expect(err.message).toMatch(/k_proj\.weight \(blk\.0\.attn_k\.weight\) has shape \[8,8\], expected \[4,8\]/);
  });

  it('a vocabulary mismatch between config and tokenizer', async () => {
    const dir = folder({ ...llamaConfig, vocab_size: 512 }, { 'model.safetensors': good() });
    const err = await loadError(dir);
    expect(err.file).toBe(join(dir, 'tokenizer.json'));
    expect(err.message).toMatch(/vocab mismatch: the tokenizer has 1024 ids, config\.json's vocab_size is 512/);
  });

  it('unsupported llama variants (rope_scaling) and corrupt config JSON', async () => {
    const scaled = folder({ ...llamaConfig, rope_scaling: { rope_type: 'llama3', factor: 8 } }, { 'model.safetensors': good() });
    expect((await loadError(scaled)).message).toMatch(/rope_scaling/);
    const corrupt = folder(llamaConfig, { 'model.safetensors': good() });
    writeFileSync(join(corrupt, 'config.json'), '{"architectures": [');
    expect((await loadError(corrupt)).message).toMatch(/config\.json: corrupt JSON/);
  });
});

function rewriteHeader(file: Buffer, edit: (header: Record<string, unknown>) => void): Buffer {
  const len = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.toString('utf8', 8, 8 + len));
  edit(header);
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, Buffer.from(json), file.subarray(8 + len)]);
}
