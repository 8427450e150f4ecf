/**
 * Loads a Hugging Face model folder (config.json, model.safetensors or shards,
 * tokenizer.json, optional generation_config.json and tokenizer_config.json) into the
 * native executor's terms: a ModelConfig, tensors under the canonical names of
 * src/native/binding.ts, a tokenizer and generation defaults.
 * Architectures: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ModelLoadError } from '../errors.js';
import type { HfTokenizer } from '../tokenizer/hf-tokenizer.js';
import type { SentencePieceTokenizer } from '../tokenizer/sentencepiece.js';
import { loadTokenizerDir } from '../tokenizer/load.js';
import type { ModelConfig, Tensor, TensorMap } from './config.js';
import type { LoadedModel } from './resolve.js';
import { readSafetensorsDir, type LoadedTensor } from './safetensors.js';

export interface GenerationDefaults {
  /** Tokens that end generation: generation_config.json's eos_token_id, else config.json's, else the tokenizer's eos_token. */
  eosTokenIds: number[];
  bosTokenId?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  repetitionPenalty?: number;
  maxNewTokens?: number;
}

export interface HfModel extends LoadedModel {
  tokenizer: HfTokenizer | SentencePieceTokenizer;
  generation: GenerationDefaults;
}

type Json = Record<string, unknown>;

export async function loadHfModel(dir: string): Promise<HfModel> {
  const configFile = join(dir, 'config.json');
  const hf = await readJson(configFile);
  const config = toModelConfig(hf, configFile);
  const generationFile = join(dir, 'generation_config.json');
  const generation = existsSync(generationFile) ? await readJson(generationFile) : {};
  const tokenizerConfigFile = join(dir, 'tokenizer_config.json');
  const tokenizerConfig = existsSync(tokenizerConfigFile) ? await readJson(tokenizerConfigFile) : {};
  const tokenizer = await loadTokenizerDir(dir);
  if (tokenizer.vocabSize > config.vocabSize) {
    const file = join(dir, 'tokenizer.json');
    throw new ModelLoadError(`${file}: vocab mismatch: the tokenizer has ${tokenizer.vocabSize} ids, config.json's vocab_size is ${config.vocabSize}`, file);
  }
  const specialTokens = { bos: tokenText(tokenizerConfig.bos_token), eos: tokenText(tokenizerConfig.eos_token) };
  const eosTokenIds = ids(generation.eos_token_id) ?? ids(hf.eos_token_id) ?? ids(specialTokens.eos && tokenizer.tokenToId(specialTokens.eos)) ?? [];
  const tensors = mapTensors(await readSafetensorsDir(dir), config, dir);
  return {
    name: basename(dir),
    config,
    tensors,
    tokenizer: tokenizer.withEosTokenIds(eosTokenIds),
    generation: {
      eosTokenIds,
      bosTokenId: ids(generation.bos_token_id ?? hf.bos_token_id)?.[0],
      temperature: num(generation.temperature),
      topP: num(generation.top_p),
      topK: num(generation.top_k),
      repetitionPenalty: num(generation.repetition_penalty),
      maxNewTokens: num(generation.max_new_tokens),
    },
    chatTemplate: chatTemplate(tokenizerConfig.chat_template),
    specialTokens,
  };
}

// ---- config.json -> ModelConfig ----

const LLAMA_FAMILY = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM'];

export function toModelConfig(hf: Json, file: string): ModelConfig {
  const fail = (problem: string): never => {
    throw new ModelLoadError(`${file}: ${problem}`, file);
  };
  const arch = Array.isArray(hf.architectures) ? String(hf.architectures[0]) : String(hf.model_type);
  const int = (key: string, fallback?: number): number => {
    const value = hf[key] ?? fallback;
    if (!Number.isSafeInteger(value) || (value as number) <= 0) fail(`${key} must be a positive integer, got ${JSON.stringify(hf[key])}`);
    return value as number;
  };
  if (arch === 'GPT2LMHeadModel') {
    const hidden = int('n_embd');
    return {
      family: 'gpt2', vocabSize: int('vocab_size'), hiddenSize: hidden, numLayers: int('n_layer'),
      numHeads: int('n_head'), numKvHeads: int('n_head'), headDim: hidden / int('n_head'),
      intermediateSize: hf.n_inner == null ? 4 * hidden : int('n_inner'), contextLength: int('n_positions'),
      normEps: num(hf.layer_norm_epsilon) ?? 1e-5, ropeTheta: 10000, ropeNeox: false,
      tieEmbeddings: true, qkvBias: true,
    };
  }
  if (!LLAMA_FAMILY.includes(arch)) fail(`unknown architecture ${JSON.stringify(arch)} (supported: ${[...LLAMA_FAMILY, 'GPT2LMHeadModel'].join(', ')})`);
  if (hf.hidden_act !== undefined && hf.hidden_act !== 'silu') fail(`hidden_act ${JSON.stringify(hf.hidden_act)} is not supported (silu only)`);
  if (hf.rope_scaling != null) fail(`rope_scaling ${JSON.stringify(hf.rope_scaling)} is not supported`);
  if (hf.attention_bias === true || hf.mlp_bias === true) fail('attention_bias / mlp_bias on a llama model is not supported');
  const numHeads = int('num_attention_heads');
  const hidden = int('hidden_size');
  let contextLength = int('max_position_embeddings');
  if (Number.isSafeInteger(hf.sliding_window) && hf.use_sliding_window !== false) contextLength = Math.min(contextLength, hf.sliding_window as number);
  return {
    family: 'llama', vocabSize: int('vocab_size'), hiddenSize: hidden, numLayers: int('num_hidden_layers'),
    numHeads, numKvHeads: int('num_key_value_heads', numHeads), headDim: int('head_dim', hidden / numHeads),
    intermediateSize: int('intermediate_size'), contextLength, normEps: num(hf.rms_norm_eps) ?? 1e-6,
    ropeTheta: num(hf.rope_theta) ?? 10000, ropeNeox: true,
    tieEmbeddings: hf.tie_word_embeddings === true, qkvBias: arch === 'Qwen2ForCausalLM',
  };
}

// ---- HF tensor names -> canonical names ----

const LLAMA_LAYER: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight', 'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.weight': 'attn_k.weight', 'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.weight': 'attn_v.weight', 'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight', 'mlp.up_proj.weight': 'ffn_up.weight', 'mlp.down_proj.weight': 'ffn_down.weight',
};
const LLAMA_GLOBAL: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight', 'model.norm.weight': 'output_norm.weight', 'lm_head.weight': 'output.weight',
};
/** GPT-2 names (after any "transformer." prefix); Conv1D weights are [in, out] and get transposed. */
const GPT2_LAYER: Record<string, string> = {
  'ln_1.weight': 'attn_norm.weight', 'ln_1.bias': 'attn_norm.bias', 'ln_2.weight': 'ffn_norm.weight', 'ln_2.bias': 'ffn_norm.bias',
  'attn.c_proj.weight': 'attn_output.weight', 'attn.c_proj.bias': 'attn_output.bias',
  'mlp.c_fc.weight': 'ffn_up.weight', 'mlp.c_fc.bias': 'ffn_up.bias', 'mlp.c_proj.weight': 'ffn_down.weight', 'mlp.c_proj.bias': 'ffn_down.bias',
};
const GPT2_GLOBAL: Record<string, string> = {
  'wte.weight': 'token_embd.weight', 'wpe.weight': 'position_embd.weight', 'ln_f.weight': 'output_norm.weight', 'ln_f.bias': 'output_norm.bias',
};

function mapTensors(source: Map<string, LoadedTensor>, config: ModelConfig, dir: string): TensorMap {
  const expected = expectedShapes(config);
  const out: TensorMap = {};
  const from: Record<string, { hfName: string; file: string }> = {};
  for (const [hfName, tensor] of source) {
    for (const [name, t] of canonical(hfName, tensor, config)) {
      if (!expected.has(name)) continue; // buffers (attn.bias masks, rotary inv_freq), a tied lm_head
      out[name] = { dtype: t.dtype, shape: t.shape, data: t.data };
      from[name] = { hfName, file: tensor.file };
    }
  }
  const weightsFile = existsSync(join(dir, 'model.safetensors.index.json')) ? join(dir, 'model.safetensors.index.json') : join(dir, 'model.safetensors');
  for (const [name, shape] of expected) {
    const t = out[name];
    if (!t) throw new ModelLoadError(`${weightsFile}: missing tensor ${name} (${hfNameOf(name, config)})`, weightsFile);
    if (!sameShape(t.shape, shape)) {
      const { hfName, file } = from[name];
      throw new ModelLoadError(`${file}: tensor ${hfName} (${name}) has shape [${t.shape}], expected [${shape}]`, file);
    }
  }
  return out;
}

/** The canonical tensors one HF tensor becomes (none, one, or q/k/v for GPT-2's fused c_attn). */
function canonical(hfName: string, t: LoadedTensor, config: ModelConfig): Array<[string, Tensor]> {
  const isGpt2 = config.family === 'gpt2';
  const name = isGpt2 ? hfName.replace(/^transformer\./, '') : hfName;
  const global = (isGpt2 ? GPT2_GLOBAL : LLAMA_GLOBAL)[name];
  if (global) return [[global, t]];
  const m = /^(?:model\.layers|h)\.(\d+)\.(.+)$/.exec(name);
  if (!m) return [];
  const blk = `blk.${m[1]}.`;
  if (!isGpt2) return LLAMA_LAYER[m[2]] ? [[blk + LLAMA_LAYER[m[2]], t]] : [];
  if (m[2] === 'attn.c_attn.weight' || m[2] === 'attn.c_attn.bias') return splitQkv(blk, t, config);
  const target = GPT2_LAYER[m[2]];
  if (!target) return [];
  return [[blk + target, target.endsWith('.weight') && t.shape.length === 2 ? transposed(t) : t]];
}

/** GPT-2's fused c_attn: weight [hidden, 3*hidden] (Conv1D) -> transposed, rows split into q, k, v; bias [3*hidden] split. */
function splitQkv(blk: string, t: LoadedTensor, config: ModelConfig): Array<[string, Tensor]> {
  const h = config.hiddenSize;
  const isWeight = t.shape.length === 2;
  const expected = isWeight ? [h, 3 * h] : [3 * h];
  const kind = isWeight ? 'weight' : 'bias';
  if (!sameShape(t.shape, expected)) {
    throw new ModelLoadError(`${t.file}: tensor ${blk}attn.c_attn.${kind} has shape [${t.shape}], expected [${expected}]`, t.file);
  }
  const whole = isWeight ? transposed(t) : t;
  const part = h * (isWeight ? h : 1);
  return ['attn_q', 'attn_k', 'attn_v'].map((p, i) => [
    `${blk}${p}.${kind}`,
    { dtype: t.dtype, shape: isWeight ? [h, h] : [h], data: whole.data.subarray(i * part, (i + 1) * part) },
  ]);
}

/** [rows, cols] -> [cols, rows], written back over the same memory (one matrix of scratch). */
function transposed(t: Tensor): Tensor {
  const [rows, cols] = t.shape;
  const src = t.data.slice();
  const dst = t.data;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
  return { dtype: t.dtype, shape: [cols, rows], data: dst };
}

/** Every tensor the executor needs for this config, with its shape (as in src/native/binding.ts). */
export function expectedShapes(c: ModelConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const isGpt2 = c.family === 'gpt2';
  const add = (name: string, shape: number[], hasBias = false): void => {
    shapes.set(`${name}.weight`, shape);
    if (hasBias) shapes.set(`${name}.bias`, [shape[0]]);
  };
  add('token_embd', [c.vocabSize, c.hiddenSize]);
  if (isGpt2) add('position_embd', [c.contextLength, c.hiddenSize]);
  for (let i = 0; i < c.numLayers; i++) {
    const b = `blk.${i}.`;
    add(b + 'attn_norm', [c.hiddenSize], isGpt2);
    add(b + 'attn_q', [q, c.hiddenSize], isGpt2 || c.qkvBias);
    add(b + 'attn_k', [kv, c.hiddenSize], isGpt2 || c.qkvBias);
    add(b + 'attn_v', [kv, c.hiddenSize], isGpt2 || c.qkvBias);
    add(b + 'attn_output', [c.hiddenSize, q], isGpt2);
    add(b + 'ffn_norm', [c.hiddenSize], isGpt2);
    if (!isGpt2) add(b + 'ffn_gate', [c.intermediateSize, c.hiddenSize]);
    add(b + 'ffn_up', [c.intermediateSize, c.hiddenSize], isGpt2);
    add(b + 'ffn_down', [c.hiddenSize, c.intermediateSize], isGpt2);
  }
  add('output_norm', [c.hiddenSize], isGpt2);
  if (!c.tieEmbeddings) add('output', [c.vocabSize, c.hiddenSize]);
  return shapes;
}

/** The HF name a canonical tensor comes from, for error messages. */
function hfNameOf(name: string, config: ModelConfig): string {
  const isGpt2 = config.family === 'gpt2';
  const global = Object.entries(isGpt2 ? GPT2_GLOBAL : LLAMA_GLOBAL).find(([, v]) => v === name);
  if (global) return global[0];
  const m = /^blk\.(\d+)\.(.+)$/.exec(name);
  if (!m) return name;
  if (isGpt2 && /^attn_[qkv]\./.test(m[2])) return `h.${m[1]}.attn.c_attn.${m[2].split('.')[1]}`;
  const layer = Object.entries(isGpt2 ? GPT2_LAYER : LLAMA_LAYER).find(([, v]) => v === m[2]);
  return layer ? `${isGpt2 ? 'h' : 'model.layers'}.${m[1]}.${layer[0]}` : name;
}

// ---- small readers ----

async function readJson(file: string): Promise<Json> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new ModelLoadError(`${file}: ${reason}`, file, { cause: err });
  }
  try {
    const json = JSON.parse(text);
    if (json && typeof json === 'object' && !Array.isArray(json)) return json as Json;
  } catch (err) {
    throw new ModelLoadError(`${file}: corrupt JSON (${(err as Error).message})`, file, { cause: err });
  }
  throw new ModelLoadError(`${file}: not a JSON object`, file);
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function ids(value: unknown): number[] | undefined {
  if (Number.isSafeInteger(value)) return [value as number];
  if (Array.isArray(value) && value.length > 0 && value.every((v) => Number.isSafeInteger(v))) return value as number[];
  return undefined;
}

function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  const content = (value as { content?: unknown } | null)?.content;
  return typeof content === 'string' ? content : undefined;
}

function chatTemplate(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) return undefined;
  const entry = value.find((t) => t?.name === 'default') ?? value[0];
  return typeof entry?.template === 'string' ? entry.template : undefined;
}
