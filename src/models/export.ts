/**
 * Exports a synthetic model (a preset or a ModelConfig, seeded weights) as files other
 * tools load: a Hugging Face folder (config.json, model.safetensors in f32 or bf16, a
 * byte-level BPE tokenizer.json, tokenizer_config.json, generation_config.json) or a
 * llama GGUF file (through src/models/gguf.ts). Loading the export back gives the preset's
 * logits: bitwise for f32 safetensors, and for f32 GGUF of a config with adjacent-pair
 * rotary (a half-split preset's Q/K rows are permuted for GGUF, so q.k sums in another
 * order: within ~1e-5).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidRequestError } from '../errors.js';
import { BYTE_TO_CHAR } from '../tokenizer/byte-level.js';
import type { FloatTensorMap, ModelConfig, Tensor, TensorMap } from './config.js';
import { isQuantScheme, QUANT_SCHEMES, type QuantScheme } from './quant-scheme.js';
import { writeGguf } from './gguf.js';
import { presetConfig } from './presets.js';
import { f32ToBf16, writeSafetensors, type SafetensorsEntry } from './safetensors-writer.js';
import { syntheticTensors } from './synthetic.js';

export interface ExportOptions {
  /** A preset name ('tiny', 'small', 'medium'), or give `config`. */
  preset?: string;
  config?: ModelConfig;
  format: 'safetensors' | 'gguf';
  outDir: string;
  /** Seed of the synthetic weights (default 0, as the engine's). */
  seed?: number;
  /**
   * Weight storage: safetensors f32 (default) or bf16; GGUF f32 (default), f16, or quantized by
   * our quantizer: q8_0, q4_0, q4_k, q5_k, q6_k, or the q4_k_m / q5_k_m mixes.
   */
  dtype?: 'f32' | 'bf16' | 'f16' | QuantScheme;
}

export interface ExportResult {
  /** The files written, absolute or relative as outDir was given. */
  files: string[];
  /** What to pass as `model` to load it back: the folder, or the .gguf file. */
  model: string;
}

const EOS = '<|endoftext|>';

/** ModelConfig features of Hugging Face architectures that the exported formats do not carry. */
const HF_FEATURES = ['ropes', 'layerRope', 'layerWindow', 'attnScale', 'attnSoftcap', 'finalSoftcap', 'embedScale', 'qkNorm', 'postNorms', 'ffnAct'] as const;

export function exportModel(options: ExportOptions): ExportResult {
  const config = options.config ?? (options.preset !== undefined ? presetConfig(options.preset) : undefined);
  if (!config) throw new InvalidRequestError('export needs a preset or a config', 'preset');
  const features = HF_FEATURES.filter((key) => config[key] !== undefined);
  if (features.length > 0) throw new InvalidRequestError(`export writes plain Llama / GPT-2 configs; this one has ${features.join(', ')}`, 'config');
  const { format, dtype } = options;
  if (format !== 'safetensors' && format !== 'gguf') throw new InvalidRequestError(`unknown export format ${JSON.stringify(format)} (safetensors, gguf)`, 'format');
  if (format === 'gguf' && dtype === 'bf16') throw new InvalidRequestError('GGUF export stores f32 or f16 weights', 'dtype');
  if (format === 'safetensors' && dtype !== undefined && dtype !== 'f32' && dtype !== 'bf16') throw new InvalidRequestError('safetensors export stores f32 or bf16 weights', 'dtype');
  const tensors = syntheticTensors(config, options.seed ?? 0);
  mkdirSync(options.outDir, { recursive: true });
  if (format === 'safetensors') return exportHfFolder(config, tensors, options.outDir, dtype === 'bf16' ? 'BF16' : 'F32');
  const file = join(options.outDir, 'model.gguf');
  writeGguf(file, config, tensors, {}, { dtype: dtype === undefined || dtype === 'bf16' ? 'f32' : dtype });
  return { files: [file], model: file };
}

function exportHfFolder(config: ModelConfig, tensors: FloatTensorMap, dir: string, dtype: 'F32' | 'BF16'): ExportResult {
  const hasEos = config.vocabSize > 256;
  const eosId = hasEos ? config.vocabSize - 1 : undefined;
  const files = {
    config: join(dir, 'config.json'), weights: join(dir, 'model.safetensors'), tokenizer: join(dir, 'tokenizer.json'),
    tokenizerConfig: join(dir, 'tokenizer_config.json'), generation: join(dir, 'generation_config.json'),
  };
  const entries = (config.family === 'gpt2' ? gpt2Entries(config, tensors) : llamaEntries(config, tensors)).map((e) => withDtype(e, dtype));
  writeSafetensors(files.weights, entries);
  writeJson(files.config, hfConfig(config, dtype, eosId));
  writeJson(files.tokenizer, byteLevelTokenizerJson(config.vocabSize));
  writeJson(files.tokenizerConfig, {
    tokenizer_class: 'PreTrainedTokenizerFast', model_max_length: config.contextLength, clean_up_tokenization_spaces: false,
    ...(hasEos ? { eos_token: EOS } : {}),
  });
  writeJson(files.generation, { do_sample: false, ...(hasEos ? { eos_token_id: eosId } : {}) });
  return { files: Object.values(files), model: dir };
}

function hfConfig(c: ModelConfig, dtype: 'F32' | 'BF16', eosId: number | undefined): Record<string, unknown> {
  const torchDtype = dtype === 'F32' ? 'float32' : 'bfloat16';
  if (c.family === 'gpt2') {
    if (c.numKvHeads !== c.numHeads || c.headDim * c.numHeads !== c.hiddenSize || !c.tieEmbeddings) {
      throw new InvalidRequestError('a gpt2 export needs numKvHeads = numHeads, headDim * numHeads = hiddenSize and tied embeddings', 'config');
    }
    return {
      architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', vocab_size: c.vocabSize, n_embd: c.hiddenSize, n_layer: c.numLayers,
      n_head: c.numHeads, n_inner: c.intermediateSize, n_positions: c.contextLength, layer_norm_epsilon: c.normEps,
      activation_function: 'gelu_new', torch_dtype: torchDtype, ...(eosId !== undefined ? { eos_token_id: eosId, bos_token_id: eosId } : {}),
    };
  }
  return {
    architectures: [c.qkvBias ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'], model_type: c.qkvBias ? 'qwen2' : 'llama',
    vocab_size: c.vocabSize, hidden_size: c.hiddenSize, intermediate_size: c.intermediateSize, num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads, num_key_value_heads: c.numKvHeads, head_dim: c.headDim, max_position_embeddings: c.contextLength,
    rms_norm_eps: c.normEps, rope_theta: c.ropeTheta, tie_word_embeddings: c.tieEmbeddings, hidden_act: 'silu',
    torch_dtype: torchDtype, ...(c.qkvBias ? { use_sliding_window: false } : {}), ...(eosId !== undefined ? { eos_token_id: eosId } : {}),
  };
}

/** Canonical llama tensors under HF names; adjacent-pair rotary rows go back to HF's half-split order. */
function llamaEntries(c: ModelConfig, t: FloatTensorMap): SafetensorsEntry[] {
  const rename: Record<string, string> = {
    'token_embd.weight': 'model.embed_tokens.weight', 'output_norm.weight': 'model.norm.weight', 'output.weight': 'lm_head.weight',
  };
  const layer: Record<string, string> = {
    attn_norm: 'input_layernorm', ffn_norm: 'post_attention_layernorm', attn_q: 'self_attn.q_proj', attn_k: 'self_attn.k_proj',
    attn_v: 'self_attn.v_proj', attn_output: 'self_attn.o_proj', ffn_gate: 'mlp.gate_proj', ffn_up: 'mlp.up_proj', ffn_down: 'mlp.down_proj',
  };
  return Object.entries(t).map(([name, tensor]) => {
    const m = /^blk\.(\d+)\.(\w+)\.(weight|bias)$/.exec(name);
    const hfName = m ? `model.layers.${m[1]}.${layer[m[2]]}.${m[3]}` : rename[name];
    if (!hfName || hfName.includes('undefined')) throw new RangeError(`no Hugging Face name for tensor ${name}`);
    let out = tensor;
    if (!c.ropeNeox && m && (m[2] === 'attn_q' || m[2] === 'attn_k')) out = adjacentToHalfSplit(tensor, m[2] === 'attn_q' ? c.numHeads : c.numKvHeads, c.headDim);
    return entry(hfName, out);
  });
}

/** Canonical gpt2 tensors under HF names: Conv1D weights [in, out], q/k/v fused into c_attn. */
function gpt2Entries(c: ModelConfig, t: FloatTensorMap): SafetensorsEntry[] {
  const out: SafetensorsEntry[] = [entry('wte.weight', t['token_embd.weight']), entry('wpe.weight', t['position_embd.weight'])];
  const norm = (hf: string, ours: string): void => {
    out.push(entry(`${hf}.weight`, t[`${ours}.weight`]), entry(`${hf}.bias`, t[`${ours}.bias`]));
  };
  const conv = (hf: string, ours: string): void => {
    out.push(entry(`${hf}.weight`, transpose(t[`${ours}.weight`])), entry(`${hf}.bias`, t[`${ours}.bias`]));
  };
  for (let l = 0; l < c.numLayers; l++) {
    const [h, b] = [`h.${l}.`, `blk.${l}.`];
    norm(`${h}ln_1`, `${b}attn_norm`);
    const qkv = ['attn_q', 'attn_k', 'attn_v'].map((p) => t[`${b}${p}.weight`]);
    const fused: Tensor = { dtype: 'f32', shape: [3 * c.hiddenSize, c.hiddenSize], data: concat(qkv.map((x) => x.data as Float32Array)) };
    out.push(entry(`${h}attn.c_attn.weight`, transpose(fused)));
    const biases = ['attn_q', 'attn_k', 'attn_v'].map((p) => t[`${b}${p}.bias`].data as Float32Array);
    out.push(entry(`${h}attn.c_attn.bias`, { dtype: 'f32', shape: [3 * c.hiddenSize], data: concat(biases) }));
    conv(`${h}attn.c_proj`, `${b}attn_output`);
    norm(`${h}ln_2`, `${b}ffn_norm`);
    conv(`${h}mlp.c_fc`, `${b}ffn_up`);
    conv(`${h}mlp.c_proj`, `${b}ffn_down`);
  }
  norm('ln_f', 'output_norm');
  return out;
}

function entry(name: string, t: Tensor): SafetensorsEntry {
  if (t.dtype !== 'f32') throw new RangeError(`tensor ${name}: synthetic weights are f32, got ${t.dtype}`);
  return { name, dtype: 'F32', shape: t.shape, data: t.data };
}

function withDtype(e: SafetensorsEntry, dtype: 'F32' | 'BF16'): SafetensorsEntry {
  return dtype === 'F32' ? e : { ...e, dtype: 'BF16', data: f32ToBf16(e.data as Float32Array) };
}

function transpose(t: Tensor): Tensor {
  const [rows, cols] = t.shape;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c];
  return { dtype: 'f32', shape: [cols, rows], data: out };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Rows per head from adjacent pairs (2i, 2i+1) back to half-split pairs (i, i + headDim/2). */
export function adjacentToHalfSplit(t: Tensor, numHeads: number, headDim: number): Tensor {
  const cols = t.shape[1];
  const out = new Float32Array(t.data.length);
  const half = headDim / 2;
  for (let h = 0; h < numHeads; h++) {
    for (let i = 0; i < half; i++) {
      const base = h * headDim;
      out.set(t.data.subarray((base + 2 * i) * cols, (base + 2 * i + 1) * cols) as Float32Array, (base + i) * cols);
      out.set(t.data.subarray((base + 2 * i + 1) * cols, (base + 2 * i + 2) * cols) as Float32Array, (base + i + half) * cols);
    }
  }
  return { dtype: 'f32', shape: t.shape, data: out };
}

/**
 * A byte-level BPE tokenizer.json for `vocabSize` ids: ids 0..255 are the bytes (as the
 * synthetic presets' ByteTokenizer), then filler merges (two printable ASCII characters,
 * then those plus a letter) up to the last id, which is <|endoftext|> when there is room.
 */
export function byteLevelTokenizerJson(vocabSize: number): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  BYTE_TO_CHAR.slice(0, Math.min(256, vocabSize)).forEach((ch, b) => (vocab[ch] = b));
  const numFiller = Math.max(0, vocabSize - 257);
  const printable = Array.from({ length: 95 }, (_, i) => BYTE_TO_CHAR[0x20 + i]);
  const letters = printable.filter((ch) => /[a-z]/.test(ch));
  const merges: string[] = [];
  const add = (left: string, right: string): boolean => {
    if (merges.length >= numFiller) return false;
    vocab[left + right] = 256 + merges.length;
    merges.push(`${left} ${right}`);
    return true;
  };
  outer: for (const a of printable) for (const b of printable) if (!add(a, b)) break outer;
  outer2: for (const pair of merges.slice()) for (const c of letters) if (!add(pair.replace(' ', ''), c)) break outer2;
  if (merges.length < numFiller) throw new RangeError(`vocabulary of ${vocabSize} is larger than the filler merges can reach`);
  const added = vocabSize > 256 ? [{ id: vocabSize - 1, content: EOS, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }] : [];
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null, decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

function writeJson(file: string, value: unknown): void {
  writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}

/**
 * The CLI's `export` subcommand: `--preset NAME | --config FILE.json`, `--format safetensors|gguf`,
 * `--out DIR`, optional `--seed N`, `--dtype f32|bf16|f16|q8_0|q4_0|q4_k|q5_k|q6_k|q4_k_m|q5_k_m`. Returns what was written.
 */
export function runExport(argv: readonly string[], readConfig: (file: string) => ModelConfig = readConfigFile): ExportResult {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (!/^--(preset|config|format|out|seed|dtype)$/.test(flag) || value === undefined) {
      throw new InvalidRequestError(`export: unexpected ${JSON.stringify(flag)}${value === undefined ? ' (missing its value)' : ''}; usage: export --preset small --format safetensors|gguf --out DIR [--seed N] [--dtype f32|bf16|f16]`, flag);
    }
    flags.set(flag.slice(2), value);
  }
  const format = flags.get('format');
  const outDir = flags.get('out');
  if (format !== 'safetensors' && format !== 'gguf') throw new InvalidRequestError('export: --format must be safetensors or gguf', 'format');
  if (!outDir) throw new InvalidRequestError('export: --out DIR is required', 'out');
  const seed = flags.has('seed') ? Number(flags.get('seed')) : 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new InvalidRequestError(`export: --seed must be a non-negative integer, got ${flags.get('seed')}`, 'seed');
  const dtype = flags.get('dtype');
  if (dtype !== undefined && dtype !== 'f32' && dtype !== 'bf16' && dtype !== 'f16' && !isQuantScheme(dtype)) {
    throw new InvalidRequestError(`export: --dtype must be f32, bf16, f16 or one of ${QUANT_SCHEMES.join(', ')}`, 'dtype');
  }
  const config = flags.has('config') ? readConfig(flags.get('config')!) : undefined;
  return exportModel({ preset: flags.get('preset'), config, format, outDir, seed, dtype });
}

function readConfigFile(file: string): ModelConfig {
  return JSON.parse(readFileSync(file, 'utf8')) as ModelConfig;
}
