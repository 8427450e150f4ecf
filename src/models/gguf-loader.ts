/**
 * Loads a GGUF file of the llama architecture (Llama 1/2/3-shaped, Mistral, TinyLlama...)
 * into the native executor's terms. GGUF's tensor names are already the canonical ones
 * (src/native/binding.ts). llama.cpp rotates adjacent pairs (2i, 2i+1) on GGUF weights
 * (its converter permuted the Q/K rows of the HF checkpoint for that), so the config says
 * ropeNeox = false and the weights are used as stored. Tensor types: F32 and F16/BF16 are
 * views into the file's one buffer (a copy only when misaligned); Q8_0, Q4_0, Q4_K, Q5_K and
 * Q6_K are views of their blocks, which the executor keeps quantized (any mix of them, as
 * the *_K_M / *_K_S files have). Any other type is refused by name. The tokenizer comes from the metadata: "llama" (SentencePiece-style BPE
 * with scores and byte fallback) or "gpt2" (byte-level BPE with merges).
 */
import { basename } from 'node:path';
import { ModelLoadError } from '../errors.js';
import { HfTokenizer } from '../tokenizer/hf-tokenizer.js';
import { scorePairsByToken, SentencePieceTokenizer, type SpTokenType } from '../tokenizer/sentencepiece.js';
import type { AnyTensor, ModelConfig, TensorMap } from './config.js';
import { QUANT_DTYPES, QUANT_FORMATS, quantDtypeOfGgml } from './quant-formats.js';
import { readGguf, type GgufFile, type GgufTensorInfo, type GgufValue } from './gguf-reader.js';
import { expectedShapes, type GenerationDefaults } from './hf.js';
import type { LoadedModel } from './resolve.js';

export interface GgufModel extends LoadedModel {
  tokenizer: HfTokenizer | SentencePieceTokenizer;
  generation: GenerationDefaults;
}

const ARCHITECTURES = ['llama'];
const TOKEN_TYPES: Record<number, SpTokenType> = { 1: 'normal', 2: 'unknown', 3: 'control', 4: 'user', 5: 'unused', 6: 'byte' };
/** Llama 3's pre-tokenizer pattern (tokenizer.ggml.pre "llama-bpe"). */
const LLAMA3_PATTERN = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

export async function loadGgufModel(file: string): Promise<GgufModel> {
  const gguf = await readGguf(file);
  const meta = new Metadata(gguf);
  const config = ggufConfig(meta, gguf);
  const tokenizer = ggufTokenizer(meta);
  if (tokenizer.vocabSize > config.vocabSize) meta.fail(`vocab mismatch: the tokenizer has ${tokenizer.vocabSize} tokens, the model ${config.vocabSize}`);
  const tensors = ggufTensors(gguf, config);
  const eosTokenIds = ['tokenizer.ggml.eos_token_id', 'tokenizer.ggml.eot_token_id']
    .map((key) => meta.optional(key)).filter((id): id is number => typeof id === 'number' && id < config.vocabSize);
  const uniqueEos = [...new Set(eosTokenIds)];
  const bosTokenId = meta.optional('tokenizer.ggml.bos_token_id');
  const text = (id: GgufValue | undefined): string | undefined => (typeof id === 'number' ? meta.tokens()[id] : undefined);
  const template = meta.optional('tokenizer.chat_template');
  return {
    name: typeof meta.optional('general.name') === 'string' ? String(meta.optional('general.name')) : basename(file),
    config,
    tensors,
    tokenizer: tokenizer.withEosTokenIds(uniqueEos),
    chatTemplate: typeof template === 'string' ? template : undefined,
    specialTokens: { bos: text(bosTokenId), eos: text(uniqueEos[0]) },
    generation: { eosTokenIds: uniqueEos, bosTokenId: typeof bosTokenId === 'number' ? bosTokenId : undefined },
  };
}

/** Typed access to the metadata, failing with the file's name. */
class Metadata {
  constructor(private readonly gguf: GgufFile) {}

  fail(problem: string): never {
    throw new ModelLoadError(`${this.gguf.file}: ${problem}`, this.gguf.file);
  }

  optional(key: string): GgufValue | undefined {
    return this.gguf.metadata.get(key);
  }

  string(key: string): string {
    const v = this.gguf.metadata.get(key);
    if (typeof v !== 'string') this.fail(v === undefined ? `missing metadata ${key}` : `metadata ${key} must be a string, got ${String(v)}`);
    return v as string;
  }

  int(key: string, fallback?: number): number {
    const v = this.gguf.metadata.get(key) ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      this.fail(v === undefined ? `missing metadata ${key}` : `metadata ${key} must be a positive integer, got ${String(v)}`);
    }
    return v as number;
  }

  number(key: string, fallback: number): number {
    const v = this.gguf.metadata.get(key) ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(`metadata ${key} must be a number, got ${String(v)}`);
    return v as number;
  }

  array<T extends GgufValue>(key: string, isItem: (v: GgufValue) => v is T, required: boolean): T[] | undefined {
    const v = this.gguf.metadata.get(key);
    if (v === undefined && !required) return undefined;
    if (!Array.isArray(v)) this.fail(v === undefined ? `missing metadata ${key}` : `metadata ${key} must be an array`);
    const array = v as GgufValue[];
    const bad = array.findIndex((item) => !isItem(item));
    if (bad >= 0) this.fail(`metadata ${key}[${bad}] has the wrong type (${String(array[bad])})`);
    return array as T[];
  }

  tokens(): string[] {
    return this.array('tokenizer.ggml.tokens', isString, true)!;
  }
}

const isString = (v: GgufValue): v is string => typeof v === 'string';
const isNumber = (v: GgufValue): v is number => typeof v === 'number';

function ggufConfig(meta: Metadata, gguf: GgufFile): ModelConfig {
  const arch = meta.string('general.architecture');
  if (!ARCHITECTURES.includes(arch)) meta.fail(`unknown architecture ${JSON.stringify(arch)} (supported: ${ARCHITECTURES.join(', ')})`);
  const key = (k: string): string => `${arch}.${k}`;
  const experts = meta.optional(key('expert_count'));
  if (typeof experts === 'number' && experts > 0) meta.fail(`mixture of experts (${key('expert_count')} = ${experts}) is not supported`);
  const scaling = meta.optional(key('rope.scaling.type'));
  if (scaling !== undefined && scaling !== 'none') meta.fail(`rope scaling ${JSON.stringify(scaling)} is not supported`);
  if (gguf.tensors.has('rope_freqs.weight')) meta.fail('rope_freqs.weight (Llama 3.1 rope scaling) is not supported');
  const hidden = meta.int(key('embedding_length'));
  const numHeads = meta.int(key('attention.head_count'));
  const headDim = meta.int(key('attention.key_length'), hidden / numHeads);
  if (meta.int(key('attention.value_length'), headDim) !== headDim) meta.fail(`${key('attention.value_length')} differs from the key length ${headDim}`);
  if (headDim % 2 !== 0) meta.fail(`head dimension ${headDim} is odd`);
  const ropeDims = meta.int(key('rope.dimension_count'), headDim);
  if (ropeDims !== headDim) meta.fail(`partial rotary (${key('rope.dimension_count')} = ${ropeDims} of ${headDim}) is not supported`);
  const embd = gguf.tensors.get('token_embd.weight');
  const vocabFallback = meta.optional('tokenizer.ggml.tokens') !== undefined ? meta.tokens().length : embd?.shape[0];
  return {
    family: 'llama',
    vocabSize: meta.int(key('vocab_size'), vocabFallback),
    hiddenSize: hidden,
    numLayers: meta.int(key('block_count')),
    numHeads,
    numKvHeads: meta.int(key('attention.head_count_kv'), numHeads),
    headDim,
    intermediateSize: meta.int(key('feed_forward_length')),
    contextLength: meta.int(key('context_length')),
    normEps: meta.number(key('attention.layer_norm_rms_epsilon'), 1e-5),
    ropeTheta: meta.number(key('rope.freq_base'), 10000),
    ropeNeox: false,
    tieEmbeddings: !gguf.tensors.has('output.weight'),
    qkvBias: false,
  };
}

function ggufTensors(gguf: GgufFile, config: ModelConfig): TensorMap {
  const out: TensorMap = {};
  const fail = (problem: string): never => {
    throw new ModelLoadError(`${gguf.file}: ${problem}`, gguf.file);
  };
  for (const [name, shape] of expectedShapes(config)) {
    const info = gguf.tensors.get(name);
    if (!info) fail(`missing tensor ${name}`);
    if (info!.shape.length !== shape.length || info!.shape.some((d, i) => d !== shape[i])) {
      fail(`tensor ${name} has shape [${info!.shape}], expected [${shape}]`);
    }
    out[name] = toTensor(gguf.buf, info!, fail);
  }
  return out;
}

function toTensor(buf: Buffer, info: GgufTensorInfo, fail: (problem: string) => never): AnyTensor {
  const numel = info.shape.reduce((a, b) => a * b, 1);
  const at = buf.byteOffset + info.offset;
  switch (info.typeName) {
    case 'F32':
      return { dtype: 'f32', shape: info.shape, data: at % 4 === 0 ? new Float32Array(buf.buffer, at, numel) : new Float32Array(copy(buf, info)) };
    case 'F16':
    case 'BF16': {
      const data = at % 2 === 0 ? new Uint16Array(buf.buffer, at, numel) : new Uint16Array(copy(buf, info));
      return { dtype: info.typeName === 'F16' ? 'f16' : 'bf16', shape: info.shape, data };
    }
    default: {
      const dtype = quantDtypeOfGgml(info.typeName);
      if (!dtype) return fail(`tensor ${info.name} has type ${info.typeName}, which is not supported (${SUPPORTED_TYPES})`);
      const cols = info.shape[info.shape.length - 1];
      if (cols % QUANT_FORMATS[dtype].blockElems !== 0) fail(`tensor ${info.name}: ${info.typeName} rows of ${cols} are not whole blocks`);
      return { dtype, shape: info.shape, data: new Uint8Array(buf.buffer, at, info.byteLength) };
    }
  }
}

const SUPPORTED_TYPES = ['F32', 'F16', 'BF16', ...QUANT_DTYPES.map((d) => QUANT_FORMATS[d].ggmlName)].join(', ');

function copy(buf: Buffer, info: GgufTensorInfo): ArrayBuffer {
  return new Uint8Array(buf.buffer, buf.byteOffset + info.offset, info.byteLength).slice().buffer;
}

function ggufTokenizer(meta: Metadata): HfTokenizer | SentencePieceTokenizer {
  const model = meta.string('tokenizer.ggml.model');
  const tokens = meta.tokens();
  const rawTypes = meta.array('tokenizer.ggml.token_type', isNumber, false);
  if (rawTypes && rawTypes.length !== tokens.length) meta.fail(`tokenizer.ggml.token_type has ${rawTypes.length} entries for ${tokens.length} tokens`);
  const types = tokens.map((_, id): SpTokenType => TOKEN_TYPES[rawTypes?.[id] ?? 1] ?? 'normal');
  const id = (key: string): number | undefined => {
    const v = meta.optional(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v >= tokens.length) meta.fail(`${key} ${String(v)} is not a token id`);
    return v as number;
  };
  if (model === 'llama') {
    const scores = meta.array('tokenizer.ggml.scores', isNumber, false) ?? tokens.map(() => 0);
    if (scores.length !== tokens.length) meta.fail(`tokenizer.ggml.scores has ${scores.length} entries for ${tokens.length} tokens`);
    const bosId = id('tokenizer.ggml.bos_token_id');
    return new SentencePieceTokenizer({
      tokens, types, pairScore: scorePairsByToken(tokens, scores), unkId: id('tokenizer.ggml.unknown_token_id'), bosId,
      addBos: meta.optional('tokenizer.ggml.add_bos_token') !== false && bosId !== undefined,
      prefix: meta.optional('tokenizer.ggml.add_space_prefix') === false ? 'never' : 'always',
    });
  }
  if (model === 'gpt2') return byteLevelTokenizer(meta, tokens, types);
  return meta.fail(`unknown tokenizer.ggml.model ${JSON.stringify(model)} (supported: llama, gpt2)`);
}

/** A "gpt2" GGUF tokenizer as the tokenizer.json it was converted from. */
function byteLevelTokenizer(meta: Metadata, tokens: string[], types: SpTokenType[]): HfTokenizer {
  const merges = meta.array('tokenizer.ggml.merges', isString, true)!;
  const pre = meta.optional('tokenizer.ggml.pre') ?? 'default';
  const preTokenizer = pre === 'default' || pre === 'gpt-2' || pre === 'gpt2'
    ? { type: 'ByteLevel', add_prefix_space: false, use_regex: true }
    : pre === 'llama-bpe' || pre === 'llama3'
      ? { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: LLAMA3_PATTERN }, behavior: 'Isolated' }, { type: 'ByteLevel', use_regex: false }] }
      : meta.fail(`unsupported tokenizer.ggml.pre ${JSON.stringify(pre)} (supported: default, gpt-2, llama-bpe)`);
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => (vocab[t] = i));
  const added = tokens.flatMap((content, id) => (types[id] === 'control' || types[id] === 'user' ? [{ id, content, special: types[id] === 'control' }] : []));
  try {
    return HfTokenizer.fromJson({ model: { type: 'BPE', vocab, merges }, added_tokens: added, pre_tokenizer: preTokenizer });
  } catch (err) {
    return meta.fail(`tokenizer: ${(err as Error).message}`);
  }
}
