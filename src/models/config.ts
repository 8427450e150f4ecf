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
