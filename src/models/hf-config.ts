/**
 * config.json -> ModelConfig for the architectures the executor runs, in both layouts
 * (transformers 4: top-level rope_theta / rope_scaling; transformers 5: rope_parameters).
 * Anything that would change the math and is not understood is a ModelLoadError naming the field.
 */
import { ModelLoadError } from '../errors.js';
import type { ModelConfig, RopeSpec } from './config.js';
import { buildRope, defaultInvFreq, ropeSource, type Fail } from './rope-scaling.js';

type Json = Record<string, unknown>;

/** Architecture -> how its config reads. */
const LLAMA_LIKE: Record<string, { gemma?: 2 | 3; qkNorm?: boolean; qkvBias?: boolean; tied: boolean; windows: 'none' | 'all' | 'qwen' | 'gemma2' | 'gemma3' }> = {
  LlamaForCausalLM: { tied: false, windows: 'none' },
  MistralForCausalLM: { tied: false, windows: 'all' },
  Qwen2ForCausalLM: { qkvBias: true, tied: false, windows: 'qwen' },
  Qwen3ForCausalLM: { qkNorm: true, tied: false, windows: 'qwen' },
  Phi3ForCausalLM: { tied: false, windows: 'all' },
  Gemma2ForCausalLM: { gemma: 2, tied: true, windows: 'gemma2' },
  Gemma3ForCausalLM: { gemma: 3, qkNorm: true, tied: true, windows: 'gemma3' },
};
export const SUPPORTED_ARCHITECTURES = [...Object.keys(LLAMA_LIKE), 'Gemma3ForConditionalGeneration', 'GPT2LMHeadModel'];

/** Fields that change the math when set (to anything but their neutral value); refused by name. */
const REFUSED: Array<[string, (v: unknown) => boolean]> = [
  ['attention_bias', (v) => v === true],
  ['mlp_bias', (v) => v === true],
  ['use_bidirectional_attention', (v) => v === true],
  ['logits_scaling', (v) => v != null && v !== 1],
  ['logit_scale', (v) => v != null && v !== 1],
  ['embedding_multiplier', (v) => v != null && v !== 1],
  ['residual_multiplier', (v) => v != null && v !== 1],
  ['attention_multiplier', (v) => v != null && v !== 1],
  ['num_experts', (v) => typeof v === 'number' && v > 0],
  ['num_local_experts', (v) => typeof v === 'number' && v > 0],
  ['no_rope_layers', (v) => Array.isArray(v) && v.length > 0],
  ['use_qk_norm', (v) => v === true],
  ['qk_layernorm', (v) => v === true],
];
const GEMMA_ONLY = ['attn_logit_softcapping', 'final_logit_softcapping', 'query_pre_attn_scalar'];

export function toModelConfig(hf: Json, file: string): ModelConfig {
  const fail: Fail = (problem: string): never => {
    throw new ModelLoadError(`${file}: ${problem}`, file);
  };
  const arch = Array.isArray(hf.architectures) ? String(hf.architectures[0]) : String(hf.model_type);
  const int = (key: string, fallback?: number): number => {
    const value = hf[key] ?? fallback;
    if (!Number.isSafeInteger(value) || (value as number) <= 0) fail(`${key} must be a positive integer, got ${JSON.stringify(hf[key])}`);
    return value as number;
  };
  const num = (key: string, fallback?: number): number => {
    const value = hf[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) fail(`${key} must be a positive number, got ${JSON.stringify(hf[key])}`);
    return value as number;
  };
  if (hf.quantization_config != null) {
    const method = (hf.quantization_config as Json).quant_method;
    fail(`quantization_config (${JSON.stringify(method ?? 'unknown')}) is not supported: load an unquantized checkpoint, or a GGUF file`);
  }
  if (arch === 'GPT2LMHeadModel') return gpt2Config(hf, int, fail);
  if (arch === 'Gemma3ForConditionalGeneration') return toModelConfig(gemma3TextConfig(hf, fail), file);
  const spec = LLAMA_LIKE[arch];
  if (!spec) fail(`unknown architecture ${JSON.stringify(arch)} (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`);
  for (const [key, isSet] of REFUSED) if (isSet(hf[key])) fail(`${key} ${JSON.stringify(hf[key])} is not supported for ${arch}`);
  if (!spec.gemma) for (const key of GEMMA_ONLY) if (hf[key] != null) fail(`${key} is not supported for ${arch}`);
  const act = hf.hidden_activation ?? hf.hidden_act;
  const gelu = ['gelu_pytorch_tanh', 'gelu_tanh', 'gelu_new'];
  if (spec.gemma ? !gelu.includes(String(act)) : act !== undefined && act !== 'silu') {
    fail(`${hf.hidden_activation != null ? 'hidden_activation' : 'hidden_act'} ${JSON.stringify(act)} is not supported for ${arch} (${spec.gemma ? gelu.join(', ') : 'silu'})`);
  }
  const numHeads = int('num_attention_heads');
  const hidden = int('hidden_size');
  const numLayers = int('num_hidden_layers');
  const headDim = hf.head_dim == null ? hidden / numHeads : int('head_dim');
  if (!Number.isInteger(headDim)) fail(`hidden_size ${hidden} is not a multiple of num_attention_heads ${numHeads} (and head_dim is not set)`);
  const maxPositions = int('max_position_embeddings');
  const types = layerTypes(hf, spec.windows, numLayers, fail);
  const window = types.includes('sliding_attention') ? int('sliding_window') : 0;
  const ropeCtx = {
    headDim,
    maxPositions,
    partialRotaryFactor: typeof hf.partial_rotary_factor === 'number' ? hf.partial_rotary_factor : undefined,
    originalMaxPositions: Number.isSafeInteger(hf.original_max_position_embeddings) ? (hf.original_max_position_embeddings as number) : undefined,
  };
  const perTypeRope = spec.gemma === 3;
  const ropeKinds = perTypeRope ? ['sliding_attention', 'full_attention'] : [undefined];
  const ropes: RopeSpec[] = [];
  let contextLength = maxPositions;
  for (const kind of ropeKinds) {
    const built = buildRope(ropeSource(hf, kind, fail), ropeCtx, fail);
    ropes.push(built.spec);
    if (!perTypeRope) contextLength = built.contextLength;
  }
  const config: ModelConfig = {
    family: 'llama', vocabSize: int('vocab_size'), hiddenSize: hidden, numLayers,
    numHeads, numKvHeads: int('num_key_value_heads', numHeads), headDim,
    intermediateSize: int('intermediate_size'), contextLength, normEps: num('rms_norm_eps', 1e-6),
    ropeTheta: ropeTheta(hf), ropeNeox: true,
    tieEmbeddings: typeof hf.tie_word_embeddings === 'boolean' ? hf.tie_word_embeddings : spec.tied,
    qkvBias: spec.qkvBias === true,
  };
  // A plain table (theta over the whole head, no scaling) stays on the executor's own path (angles in
  // double), so such checkpoints keep their bits; every other table goes as transformers computes it.
  const isPlain = ropes.length === 1 && ropes[0].rotaryDim === headDim && ropes[0].attentionFactor === 1 &&
    !ropes[0].dynamic && !ropes[0].longInvFreq && sameFloats(ropes[0].invFreq, defaultInvFreq(config.ropeTheta, headDim));
  if (!isPlain) config.ropes = ropes;
  if (perTypeRope) config.layerRope = types.map((t) => (t === 'full_attention' ? 1 : 0));
  if (types.includes('sliding_attention')) config.layerWindow = types.map((t) => (t === 'sliding_attention' ? window : 0));
  if (spec.qkNorm) config.qkNorm = true;
  if (spec.gemma) {
    config.attnScale = Math.pow(num('query_pre_attn_scalar', headDim), -0.5);
    config.embedScale = Math.sqrt(hidden);
    config.postNorms = true;
    config.ffnAct = 'gelu_tanh';
    if (hf.attn_logit_softcapping != null) config.attnSoftcap = num('attn_logit_softcapping');
    if (hf.final_logit_softcapping != null) config.finalSoftcap = num('final_logit_softcapping');
  }
  return config;
}

function sameFloats(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Gemma 3 as its 4B+ checkpoints ship (text and vision): the text model, read from text_config; images are not served. */
function gemma3TextConfig(hf: Json, fail: Fail): Json {
  const text = hf.text_config;
  if (!text || typeof text !== 'object' || Array.isArray(text)) fail('text_config must be an object for Gemma3ForConditionalGeneration');
  const merged: Json = { ...(text as Json), architectures: ['Gemma3ForCausalLM'] };
  if (merged.tie_word_embeddings === undefined && typeof hf.tie_word_embeddings === 'boolean') merged.tie_word_embeddings = hf.tie_word_embeddings;
  return merged;
}

type LayerType = 'full_attention' | 'sliding_attention';

/** layer_types as written (transformers 5), else derived as each architecture's transformers 4 code did. */
function layerTypes(hf: Json, rule: string, numLayers: number, fail: Fail): LayerType[] {
  if (Array.isArray(hf.layer_types)) {
    if (hf.layer_types.length !== numLayers) fail(`layer_types has ${hf.layer_types.length} entries, num_hidden_layers is ${numLayers}`);
    return hf.layer_types.map((t, i) => {
      if (t !== 'full_attention' && t !== 'sliding_attention') fail(`layer_types[${i}] ${JSON.stringify(t)} is not supported (full_attention, sliding_attention)`);
      return t as LayerType;
    });
  }
  const hasWindow = hf.sliding_window != null;
  const pattern = Number(hf.sliding_window_pattern ?? hf._sliding_window_pattern ?? 6);
  return Array.from({ length: numLayers }, (_, i): LayerType => {
    const sliding =
      rule === 'all' ? hasWindow :
      rule === 'qwen' ? hf.use_sliding_window === true && hasWindow && i >= Number(hf.max_window_layers ?? 0) :
      rule === 'gemma2' ? i % 2 === 0 :
      rule === 'gemma3' ? (i + 1) % pattern !== 0 : false;
    return sliding ? 'sliding_attention' : 'full_attention';
  });
}

/** The plain theta (kept in ModelConfig for the GGUF export and for display). */
function ropeTheta(hf: Json): number {
  const v5 = hf.rope_parameters as Json | undefined;
  const theta = (v5?.full_attention as Json | undefined)?.rope_theta ?? v5?.rope_theta ?? hf.rope_theta;
  return typeof theta === 'number' && theta > 0 ? theta : 10000;
}

function gpt2Config(hf: Json, int: (key: string, fallback?: number) => number, fail: Fail): ModelConfig {
  const act = hf.activation_function ?? 'gelu_new';
  if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') fail(`activation_function ${JSON.stringify(act)} is not supported (gelu_new, gelu_pytorch_tanh)`);
  if (hf.scale_attn_weights === false) fail('scale_attn_weights false is not supported');
  if (hf.scale_attn_by_inverse_layer_idx === true) fail('scale_attn_by_inverse_layer_idx true is not supported');
  if (hf.add_cross_attention === true) fail('add_cross_attention true is not supported');
  const hidden = int('n_embd');
  const eps = hf.layer_norm_epsilon;
  return {
    family: 'gpt2', vocabSize: int('vocab_size'), hiddenSize: hidden, numLayers: int('n_layer'),
    numHeads: int('n_head'), numKvHeads: int('n_head'), headDim: hidden / int('n_head'),
    intermediateSize: hf.n_inner == null ? 4 * hidden : int('n_inner'), contextLength: int('n_positions'),
    normEps: typeof eps === 'number' && eps > 0 ? eps : 1e-5, ropeTheta: 10000, ropeNeox: false,
    tieEmbeddings: true, qkvBias: true,
  };
}
