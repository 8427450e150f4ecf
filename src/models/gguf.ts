/**
 * A GGUF v3 writer for llama-architecture models: how a synthetic model (config +
 * canonical tensors) becomes a file llama.cpp loads, so benches compare the same weights.
 *
 * Layout (little-endian): "GGUF", version 3, tensor count (u64), KV count (u64), the
 * metadata KVs, one info per tensor (name, dims innermost first, ggml type, data offset),
 * padding to `general.alignment`, then every tensor's data, each aligned.
 *
 * Rotary: llama.cpp's llama architecture rotates ADJACENT pairs (2i, 2i+1); our weights
 * with ropeNeox=true rotate half-split pairs (i, i + headDim/2). Within each head the rows
 * of attn_q and attn_k are reordered so that half-split pair i lands on adjacent pair i.
 * Q and K get the same permutation, so every q.k dot product (and so attention) is unchanged.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { AnyTensor, ModelConfig, Tensor, TensorMap } from './config.js';
import { isQuantDtype, QUANT_DTYPES, QUANT_FORMATS } from './quant-formats.js';
import { quantizeForScheme, type QuantScheme } from './quant-scheme.js';

/** GGUF metadata value types. */
const enum Kind { U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9 }
/** ggml tensor types. */
const GGML_TYPE: Record<string, number> = { f32: 0, f16: 1, bf16: 30, ...Object.fromEntries(QUANT_DTYPES.map((d) => [d, QUANT_FORMATS[d].ggmlType])) };
const ALIGNMENT = 32;

export interface GgufTokenizerMeta {
  /** Ids of the special tokens (default: unk 0, bos 1, eos 2). */
  unkId?: number;
  bosId?: number;
  eosId?: number;
}

export interface GgufWriteOptions {
  /**
   * Storage of 2-D weights: 'f32' (default) keeps them; 'f16' converts f32 weights (norms stay f32);
   * a quantization scheme (src/models/quant-scheme.ts) quantizes them with our quantizer.
   * Tensors already quantized are written as they are.
   */
  dtype?: 'f32' | 'f16' | QuantScheme;
}

type Value = { kind: Kind.U32 | Kind.I32 | Kind.F32; value: number }
  | { kind: Kind.BOOL; value: boolean }
  | { kind: Kind.STRING; value: string }
  | { kind: Kind.ARRAY; of: Kind.STRING; value: string[] }
  | { kind: Kind.ARRAY; of: Kind.F32 | Kind.I32; value: ArrayLike<number> };

/** A growable little-endian byte buffer for the header. */
class ByteWriter {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u32(v: number): void { this.reserve(4); this.buf.writeUInt32LE(v, this.length); this.length += 4; }
  i32(v: number): void { this.reserve(4); this.buf.writeInt32LE(v, this.length); this.length += 4; }
  f32(v: number): void { this.reserve(4); this.buf.writeFloatLE(v, this.length); this.length += 4; }
  u64(v: number): void { this.reserve(8); this.buf.writeBigUInt64LE(BigInt(v), this.length); this.length += 8; }
  u8(v: number): void { this.reserve(1); this.buf[this.length++] = v; }
  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.reserve(bytes.length);
    bytes.copy(this.buf, this.length);
    this.length += bytes.length;
  }
  pad(alignment: number): void {
    while (this.length % alignment !== 0) this.u8(0);
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function writeValue(w: ByteWriter, v: Value): void {
  w.u32(v.kind);
  switch (v.kind) {
    case Kind.U32: w.u32(v.value); break;
    case Kind.I32: w.i32(v.value); break;
    case Kind.F32: w.f32(v.value); break;
    case Kind.BOOL: w.u8(v.value ? 1 : 0); break;
    case Kind.STRING: w.string(v.value); break;
    case Kind.ARRAY:
      w.u32(v.of);
      w.u64(v.value.length);
      if (v.of === Kind.STRING) for (const s of v.value as string[]) w.string(s);
      else for (let i = 0; i < v.value.length; i++) (v.of === Kind.F32 ? w.f32(v.value[i] as number) : w.i32(v.value[i] as number));
      break;
  }
}

/**
 * A SentencePiece-style ("llama") vocabulary llama.cpp accepts for any vocab size >= 259:
 * <unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF>, then unique filler pieces.
 */
export function syntheticLlamaVocab(vocabSize: number): { tokens: string[]; scores: Float32Array; types: Int32Array } {
  if (vocabSize < 259) throw new RangeError(`a llama GGUF vocab needs at least 259 tokens, got ${vocabSize}`);
  const tokens = ['<unk>', '<s>', '</s>'];
  for (let b = 0; b < 256; b++) tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  while (tokens.length < vocabSize) tokens.push(`\u2581t${tokens.length}`);
  const types = new Int32Array(vocabSize).fill(1); // normal
  types[0] = 2; // unknown
  types[1] = 3; // control
  types[2] = 3;
  for (let i = 3; i < 259; i++) types[i] = 6; // byte
  const scores = Float32Array.from({ length: vocabSize }, (_, i) => (i < 259 ? 0 : -i));
  return { tokens, scores, types };
}

function metadata(config: ModelConfig, meta: GgufTokenizerMeta, name: string): Array<[string, Value]> {
  const vocab = syntheticLlamaVocab(config.vocabSize);
  const u32 = (value: number): Value => ({ kind: Kind.U32, value });
  const f32 = (value: number): Value => ({ kind: Kind.F32, value });
  return [
    ['general.architecture', { kind: Kind.STRING, value: 'llama' }],
    ['general.name', { kind: Kind.STRING, value: name }],
    ['general.alignment', u32(ALIGNMENT)],
    ['llama.context_length', u32(config.contextLength)],
    ['llama.embedding_length', u32(config.hiddenSize)],
    ['llama.block_count', u32(config.numLayers)],
    ['llama.feed_forward_length', u32(config.intermediateSize)],
    ['llama.attention.head_count', u32(config.numHeads)],
    ['llama.attention.head_count_kv', u32(config.numKvHeads)],
    ['llama.attention.key_length', u32(config.headDim)],
    ['llama.attention.value_length', u32(config.headDim)],
    ['llama.rope.freq_base', f32(config.ropeTheta)],
    ['llama.rope.dimension_count', u32(config.headDim)],
    ['llama.attention.layer_norm_rms_epsilon', f32(config.normEps)],
    ['llama.vocab_size', u32(config.vocabSize)],
    ['tokenizer.ggml.model', { kind: Kind.STRING, value: 'llama' }],
    ['tokenizer.ggml.tokens', { kind: Kind.ARRAY, of: Kind.STRING, value: vocab.tokens }],
    ['tokenizer.ggml.scores', { kind: Kind.ARRAY, of: Kind.F32, value: vocab.scores }],
    ['tokenizer.ggml.token_type', { kind: Kind.ARRAY, of: Kind.I32, value: vocab.types }],
    ['tokenizer.ggml.unknown_token_id', u32(meta.unkId ?? 0)],
    ['tokenizer.ggml.bos_token_id', u32(meta.bosId ?? 1)],
    ['tokenizer.ggml.eos_token_id', u32(meta.eosId ?? 2)],
    ['tokenizer.ggml.add_bos_token', { kind: Kind.BOOL, value: false }],
    ['tokenizer.ggml.add_eos_token', { kind: Kind.BOOL, value: false }],
  ];
}

/** Rows of a [numHeads*headDim, in] matrix reordered per head: half-split pair (i, i+hd/2) -> adjacent (2i, 2i+1). */
export function permuteHalfSplitToAdjacent(tensor: Tensor, numHeads: number, headDim: number): Tensor {
  const [rows, cols] = tensor.shape;
  if (rows !== numHeads * headDim) throw new RangeError(`rotary permutation: ${rows} rows is not ${numHeads} heads x ${headDim}`);
  const src = tensor.data;
  const dst = new (src.constructor as { new (n: number): Float32Array | Uint16Array })(src.length);
  const half = headDim / 2;
  for (let h = 0; h < numHeads; h++) {
    for (let i = 0; i < half; i++) {
      const base = h * headDim;
      dst.set(src.subarray((base + i) * cols, (base + i + 1) * cols), (base + 2 * i) * cols);
      dst.set(src.subarray((base + i + half) * cols, (base + i + half + 1) * cols), (base + 2 * i + 1) * cols);
    }
  }
  return { dtype: tensor.dtype, shape: [rows, cols], data: dst };
}

/** IEEE half from a float (round to nearest even; overflow to infinity). */
function toHalf(value: number, f32: Float32Array, u32: Uint32Array): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    const half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && (half & 1)) ? 1 : 0));
  }
  const half = (exp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && (half & 1)) ? 1 : 0));
}

function toF16(tensor: Tensor): Tensor {
  if (tensor.dtype !== 'f32') return tensor;
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  const out = new Uint16Array(tensor.data.length);
  for (let i = 0; i < out.length; i++) out[i] = toHalf(tensor.data[i], f32, u32);
  return { dtype: 'f16', shape: tensor.shape, data: out };
}

/** The tensors as llama.cpp expects them: Q/K rows permuted for adjacent-pair rotary, optionally f16. */
function exportTensors(config: ModelConfig, tensors: TensorMap, options: GgufWriteOptions): Array<[string, AnyTensor]> {
  if (config.family !== 'llama') throw new RangeError(`GGUF export supports the llama family only, got ${config.family}`);
  if (config.qkvBias) throw new RangeError('GGUF export: qkv biases are not supported for the llama architecture');
  const out: Array<[string, AnyTensor]> = [];
  for (const [name, tensor] of Object.entries(tensors)) {
    if (isQuantDtype(tensor.dtype)) {
      if (config.ropeNeox && /\.attn_[qk]\.weight$/.test(name)) throw new RangeError(`GGUF export: ${name} is already quantized and cannot be permuted for adjacent-pair rotary (pass float weights, or ropeNeox = false)`);
      out.push([name, tensor]);
      continue;
    }
    let t = tensor as Tensor;
    if (config.ropeNeox && /\.attn_q\.weight$/.test(name)) t = permuteHalfSplitToAdjacent(t, config.numHeads, config.headDim);
    if (config.ropeNeox && /\.attn_k\.weight$/.test(name)) t = permuteHalfSplitToAdjacent(t, config.numKvHeads, config.headDim);
    if (options.dtype === 'f16' && t.shape.length === 2) t = toF16(t);
    const dtype = options.dtype;
    out.push([name, dtype && dtype !== 'f32' && dtype !== 'f16' ? quantizeForScheme(dtype, name, t, config.numLayers) : t]);
  }
  return out;
}

function dataBytes(tensor: AnyTensor): Buffer {
  return Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
}

/** Writes `config` + `tensors` (canonical names, row-major [out, in]) as a llama GGUF v3 file. */
export function writeGguf(path: string, config: ModelConfig, tensors: TensorMap, tokenizerMeta: GgufTokenizerMeta = {}, options: GgufWriteOptions = {}): void {
  const entries = exportTensors(config, tensors, options);
  const kvs = metadata(config, tokenizerMeta, 'nano-serving synthetic');
  const header = new ByteWriter();
  header.u32(0x46554747); // "GGUF"
  header.u32(3);
  header.u64(entries.length);
  header.u64(kvs.length);
  for (const [key, value] of kvs) {
    header.string(key);
    writeValue(header, value);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const [name, tensor] of entries) {
    header.string(name);
    header.u32(tensor.shape.length);
    for (let d = tensor.shape.length - 1; d >= 0; d--) header.u64(tensor.shape[d]); // innermost first
    header.u32(GGML_TYPE[tensor.dtype]);
    header.u64(offset);
    offsets.push(offset);
    offset += Math.ceil(tensor.data.byteLength / ALIGNMENT) * ALIGNMENT;
  }
  header.pad(ALIGNMENT);
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, header.bytes());
    const base = header.length;
    for (let i = 0; i < entries.length; i++) {
      const bytes = dataBytes(entries[i][1]);
      writeSync(fd, bytes, 0, bytes.length, base + offsets[i]);
      const end = base + offsets[i] + bytes.length;
      const padding = Math.ceil(end / ALIGNMENT) * ALIGNMENT - end;
      if (padding > 0) writeSync(fd, Buffer.alloc(padding), 0, padding, end);
    }
  } finally {
    closeSync(fd);
  }
}
