/** The shape of a transformer the native executor can run. */
export type ModelFamily = 'llama' | 'gpt2';

export interface ModelConfig {
  family: ModelFamily;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  /** Key/value heads (grouped-query attention); equals numHeads for plain multi-head attention. */
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  contextLength: number;
  normEps: number;
  /** llama only: rotary base. */
  ropeTheta: number;
  /** llama only: true = half-split pairs (i, i + headDim/2) as in HF checkpoints; false = adjacent pairs (2i, 2i+1) as llama.cpp on GGUF. */
  ropeNeox: boolean;
  /** Output projection shares token_embd.weight (no output.weight tensor). */
  tieEmbeddings: boolean;
  /** llama only: attn_q/k/v carry a bias (Qwen2). gpt2 always has biases. */
  qkvBias: boolean;
  // ---- optional features of Hugging Face architectures (absent: plain Llama / GPT-2 math) ----
  /** Rotary tables (llama only); absent: one default table from ropeTheta over the whole head. */
  ropes?: RopeSpec[];
  /** Index into `ropes` per layer (Gemma 3: local and global layers differ); absent: ropes[0] everywhere. */
  layerRope?: number[];
  /** Sliding attention window per layer, in keys including the query's own (0 = full causal attention). */
  layerWindow?: number[];
  /** Scores are q.k times this; absent: 1 / sqrt(headDim) (Gemma: query_pre_attn_scalar^-0.5). */
  attnScale?: number;
  /** Scores become cap * tanh(score / cap) before the softmax (Gemma 2); 0 or absent: none. */
  attnSoftcap?: number;
  /** Logits become cap * tanh(logit / cap) (Gemma 2); 0 or absent: none. */
  finalSoftcap?: number;
  /** Token embeddings are multiplied by this (Gemma: sqrt(hidden)); absent: 1. */
  embedScale?: number;
  /** RMSNorm over each q and k head before the rotation (Qwen3, Gemma 3): blk.N.attn_q_norm / attn_k_norm [headDim]. */
  qkNorm?: boolean;
  /** RMSNorm of the attention and FFN outputs before the residual add (Gemma 2/3): blk.N.attn_post_norm / ffn_post_norm. */
  postNorms?: boolean;
  /** Gated FFN activation (llama family): silu (SwiGLU, default) or gelu_tanh (GeGLU). */
  ffnAct?: 'silu' | 'gelu_tanh';
}

/**
 * One rotary table, as transformers computes it: per-pair inverse frequencies (float32
 * values), a factor on cos and sin, and what changes past the original context.
 */
export interface RopeSpec {
  /** Leading dimensions of each head that rotate, in half-split pairs (i, i + rotaryDim/2); the rest pass. */
  rotaryDim: number;
  /** rotaryDim / 2 inverse frequencies. */
  invFreq: number[];
  /** cos and sin are multiplied by this (YaRN, LongRoPE); 1 otherwise. */
  attentionFactor: number;
  /** LongRoPE and dynamic NTK: the context the short table is for. */
  originalContext?: number;
  /** LongRoPE: the table used when a step's run of a sequence ends past originalContext. */
  longInvFreq?: number[];
  /** Dynamic NTK: base and factor the frequencies are recomputed from when a run ends past originalContext. */
  dynamic?: { base: number; factor: number };
}

/** ggml block formats kept quantized in memory (src/models/quant-formats.ts). */
export type QuantDtype = 'q8_0' | 'q4_0' | 'q4_k' | 'q5_k' | 'q6_k';
export type TensorDtype = 'f32' | 'f16' | 'bf16';

/** A float tensor: f32 -> Float32Array; f16 and bf16 -> Uint16Array holding the raw bits. */
export interface Tensor {
  dtype: TensorDtype;
  shape: number[];
  data: Float32Array | Uint16Array;
}

/** A quantized tensor: the ggml blocks of each row (last dimension) back to back, as GGUF stores them. */
export interface QuantTensor {
  dtype: QuantDtype;
  shape: number[];
  data: Uint8Array;
}

/** One weight tensor handed to the native executor: row-major, [out, in] for linear layers. */
export type AnyTensor = Tensor | QuantTensor;

export type TensorMap = Record<string, AnyTensor>;
export type FloatTensorMap = Record<string, Tensor>;
