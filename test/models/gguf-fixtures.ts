/**
 * Test-only GGUF building blocks: a generic GGUF encoder (any metadata, any raw tensor
 * bytes, any version), f16/q8_0 encoders, llama metadata for a config, and a small
 * SentencePiece-style vocabulary learned by BPE from a few sentences (real merges, so
 * tokenizers have work to do). Production GGUF writing is src/models/gguf.ts.
 */
import type { ModelConfig } from '../../src/models/config.js';

export type MetaValue =
  | { t: 'u32' | 'i32' | 'f32' | 'u64'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'str'; v: string }
  | { t: 'arr'; of: 'str'; v: string[] }
  | { t: 'arr'; of: 'f32' | 'i32'; v: ArrayLike<number> };

export interface RawTensor {
  name: string;
  /** Row-major, outermost first. */
  shape: number[];
  /** ggml type id: 0 F32, 1 F16, 8 Q8_0, ... */
  type: number;
  data: Uint8Array;
}

const TYPE_ID = { u32: 4, i32: 5, f32: 6, bool: 7, str: 8, arr: 9, u64: 10 } as const;

export const str = (v: string): MetaValue => ({ t: 'str', v });
export const u32 = (v: number): MetaValue => ({ t: 'u32', v });
export const f32 = (v: number): MetaValue => ({ t: 'f32', v });

/** Encodes a GGUF file in memory (little-endian). */
export function encodeGguf(metadata: Array<[string, MetaValue]>, tensors: RawTensor[], options: { version?: number; alignment?: number } = {}): Buffer {
  const alignment = options.alignment ?? 32;
  const parts: Buffer[] = [];
  const u32b = (v: number): void => void parts.push(le(4, (b) => b.writeUInt32LE(v)));
  const u64b = (v: number): void => void parts.push(le(8, (b) => b.writeBigUInt64LE(BigInt(v))));
  const strb = (s: string): void => {
    const bytes = Buffer.from(s, 'utf8');
    u64b(bytes.length);
    parts.push(bytes);
  };
  const scalar = (t: string, v: number | boolean | string): void => {
    if (t === 'u32') u32b(v as number);
    else if (t === 'i32') parts.push(le(4, (b) => b.writeInt32LE(v as number)));
    else if (t === 'f32') parts.push(le(4, (b) => b.writeFloatLE(v as number)));
    else if (t === 'u64') u64b(v as number);
    else if (t === 'bool') parts.push(Buffer.of(v ? 1 : 0));
    else strb(v as string);
  };
  u32b(0x46554747);
  u32b(options.version ?? 3);
  u64b(tensors.length);
  u64b(metadata.length);
  for (const [key, value] of metadata) {
    strb(key);
    u32b(TYPE_ID[value.t]);
    if (value.t === 'arr') {
      u32b(TYPE_ID[value.of]);
      u64b(value.v.length);
      for (let i = 0; i < value.v.length; i++) scalar(value.of, value.v[i]);
    } else {
      scalar(value.t, value.v);
    }
  }
  let offset = 0;
  for (const t of tensors) {
    strb(t.name);
    u32b(t.shape.length);
    for (const d of [...t.shape].reverse()) u64b(d);
    u32b(t.type);
    u64b(offset);
    offset += Math.ceil(t.data.length / alignment) * alignment;
  }
  const header = Buffer.concat(parts);
  const dataStart = Math.ceil(header.length / alignment) * alignment;
  const out = Buffer.alloc(dataStart + offset);
  header.copy(out);
  let at = dataStart;
  for (const t of tensors) {
    out.set(t.data, at);
    at += Math.ceil(t.data.length / alignment) * alignment;
  }
  return out;
}

function le(n: number, write: (b: Buffer) => void): Buffer {
  const b = Buffer.alloc(n);
  write(b);
  return b;
}

/** IEEE half bits of a float, round to nearest even (normal range and subnormals). */
export function toHalfBits(value: number): number {
  const f = new Float32Array([value]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 112;
  const mant = x & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) return sign | Math.round(Math.abs(value) / 2 ** -24);
  const half = (exp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && (half & 1)) ? 1 : 0));
}

export function f16Bytes(data: Float32Array): Uint8Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = toHalfBits(data[i]);
  return new Uint8Array(out.buffer);
}

/** Q8_0 blocks: d = max|x| / 127 as f16, q = round(x / d). */
export function q8_0Bytes(data: Float32Array): Uint8Array {
  const out = Buffer.alloc((data.length / 32) * 34);
  for (let b = 0; b * 32 < data.length; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(data[b * 32 + i]));
    const d = amax / 127;
    out.writeUInt16LE(toHalfBits(d), b * 34);
    for (let i = 0; i < 32; i++) out.writeInt8(d === 0 ? 0 : Math.round(data[b * 32 + i] / d), b * 34 + 2 + i);
  }
  return out;
}

/** The llama.* keys of a config (adjacent-pair rotary is implied by the architecture). */
export function llamaMetadata(c: ModelConfig): Array<[string, MetaValue]> {
  return [
    ['general.architecture', str('llama')],
    ['general.name', str('fixture')],
    ['llama.context_length', u32(c.contextLength)],
    ['llama.embedding_length', u32(c.hiddenSize)],
    ['llama.block_count', u32(c.numLayers)],
    ['llama.feed_forward_length', u32(c.intermediateSize)],
    ['llama.attention.head_count', u32(c.numHeads)],
    ['llama.attention.head_count_kv', u32(c.numKvHeads)],
    ['llama.rope.freq_base', f32(c.ropeTheta)],
    ['llama.rope.dimension_count', u32(c.headDim)],
    ['llama.attention.layer_norm_rms_epsilon', f32(c.normEps)],
  ];
}

export interface SpVocab {
  tokens: string[];
  scores: Float32Array;
  /** GGUF token types: 1 normal, 2 unknown, 3 control, 6 byte. */
  types: Int32Array;
}

const CORPUS = [
  'The quick brown fox jumps over the lazy dog.',
  'Hello world! Hello there, how are you doing today?',
  'In the beginning was the word, and the word was with the tokenizer.',
  'Numbers like 1234 and 56789 are split into pieces; so are symbols: #@!',
  'Caf\u00e9 na\u00efve r\u00e9sum\u00e9 -- accents live here too.',
  'the then there these those this that them they their',
];

/**
 * <unk>, <s>, </s>, the 256 byte tokens, every character of the corpus (with '▁' for
 * spaces) and `numMerges` BPE merges learned from it; scores fall with each merge, so
 * earlier merges win, as in a SentencePiece BPE model.
 */
export function learnedSpVocab(numMerges: number): SpVocab {
  const tokens = ['<unk>', '<s>', '</s>'];
  for (let b = 0; b < 256; b++) tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const words = CORPUS.flatMap((line) => line.split(' ').map((w) => Array.from('\u2581' + w)));
  const chars = [...new Set(words.flat())].sort();
  const pieces: string[] = [...chars];
  for (let m = 0; m < numMerges; m++) {
    const counts = new Map<string, number>();
    for (const w of words) for (let i = 0; i + 1 < w.length; i++) counts.set(w[i] + '\u0000' + w[i + 1], (counts.get(w[i] + '\u0000' + w[i + 1]) ?? 0) + 1);
    let best = '';
    let bestCount = 0;
    for (const [pair, n] of counts) if (n > bestCount || (n === bestCount && pair < best)) [best, bestCount] = [pair, n];
    if (!best) break;
    const [a, b] = best.split('\u0000');
    if (pieces.includes(a + b)) continue;
    pieces.push(a + b);
    for (const w of words) {
      for (let i = 0; i + 1 < w.length; i++) if (w[i] === a && w[i + 1] === b) w.splice(i, 2, a + b);
    }
  }
  const merged = pieces.slice(chars.length);
  // Merged pieces score by merge order; single characters score below every merge.
  const ordered = [...merged, ...chars];
  const scores = new Float32Array(tokens.length + ordered.length);
  ordered.forEach((p, i) => {
    tokens.push(p);
    scores[259 + i] = -(i + 1);
  });
  const types = new Int32Array(tokens.length).fill(1);
  types[0] = 2;
  types[1] = 3;
  types[2] = 3;
  for (let i = 3; i < 259; i++) types[i] = 6;
  return { tokens, scores, types };
}

export function tokenizerMetadata(vocab: SpVocab, options: { addBos?: boolean } = {}): Array<[string, MetaValue]> {
  return [
    ['tokenizer.ggml.model', str('llama')],
    ['tokenizer.ggml.tokens', { t: 'arr', of: 'str', v: vocab.tokens }],
    ['tokenizer.ggml.scores', { t: 'arr', of: 'f32', v: vocab.scores }],
    ['tokenizer.ggml.token_type', { t: 'arr', of: 'i32', v: vocab.types }],
    ['tokenizer.ggml.unknown_token_id', u32(0)],
    ['tokenizer.ggml.bos_token_id', u32(1)],
    ['tokenizer.ggml.eos_token_id', u32(2)],
    ['tokenizer.ggml.add_bos_token', { t: 'bool', v: options.addBos ?? true }],
  ];
}
