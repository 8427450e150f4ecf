/**
 * Which tensors of a model get which block format when we quantize it (the GGUF writer,
 * and weightDtype 'q8_0' / 'q4_k' at load). 1-D tensors (norms, biases) stay f32. A matrix
 * whose rows are not a multiple of its format's block falls back to Q8_0 (32-blocks), or
 * stays float when not even that fits. The *_m schemes follow llama.cpp's Q4_K_M / Q5_K_M
 * mix: output.weight, and attn_v / ffn_down of the first and last eighth of the layers and
 * every third layer between, in Q6_K.
 */
import type { AnyTensor, ModelConfig, QuantDtype, Tensor, TensorMap } from './config.js';
import { halfValue, quantizeTensor } from './quantize.js';
import { isQuantDtype, QUANT_FORMATS } from './quant-formats.js';

export type QuantScheme = QuantDtype | 'q4_k_m' | 'q5_k_m';
export const QUANT_SCHEMES: readonly QuantScheme[] = ['q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k', 'q4_k_m', 'q5_k_m'];

export function isQuantScheme(value: string): value is QuantScheme {
  return (QUANT_SCHEMES as readonly string[]).includes(value);
}

/** llama.cpp's "use more bits" layers of the *_M mixes. */
function usesMoreBits(layer: number, numLayers: number): boolean {
  return layer < numLayers / 8 || layer >= (7 * numLayers) / 8 || (layer - Math.floor(numLayers / 8)) % 3 === 2;
}

/** The format `scheme` gives tensor `name` of shape `shape`, or undefined to keep it float. */
export function schemeDtype(scheme: QuantScheme, name: string, shape: readonly number[], numLayers: number): QuantDtype | undefined {
  if (shape.length !== 2) return undefined;
  let dtype: QuantDtype;
  if (isQuantDtype(scheme)) {
    dtype = scheme;
  } else {
    const m = /^blk\.(\d+)\.(attn_v|ffn_down)\.weight$/.exec(name);
    const more = name === 'output.weight' || (m !== null && usesMoreBits(Number(m[1]), numLayers));
    dtype = more ? 'q6_k' : scheme === 'q4_k_m' ? 'q4_k' : 'q5_k';
  }
  const cols = shape[1];
  if (cols % QUANT_FORMATS[dtype].blockElems === 0) return dtype;
  return cols % 32 === 0 ? 'q8_0' : undefined;
}

/** f32 values of a float tensor (f16 and bf16 widened). */
export function floatValues(t: Tensor): Float32Array {
  if (t.dtype === 'f32') return t.data as Float32Array;
  const out = new Float32Array(t.data.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < out.length; i++) {
    if (t.dtype === 'bf16') bits[i] = t.data[i] << 16;
    else out[i] = halfValue(t.data[i]);
  }
  return out;
}

/** One tensor as `scheme` gives it (already-quantized tensors are kept as they are). */
export function quantizeForScheme(scheme: QuantScheme, name: string, t: AnyTensor, numLayers: number): AnyTensor {
  if (isQuantDtype(t.dtype)) return t;
  const float = t as Tensor;
  const dtype = schemeDtype(scheme, name, float.shape, numLayers);
  if (!dtype) return t;
  return quantizeTensor({ dtype: 'f32', shape: float.shape, data: floatValues(float) }, dtype, name);
}

/** Every tensor of the model as `scheme` gives it. */
export function quantizeTensorMap(config: ModelConfig, tensors: TensorMap, scheme: QuantScheme): TensorMap {
  const out: TensorMap = {};
  for (const [name, t] of Object.entries(tensors)) out[name] = quantizeForScheme(scheme, name, t, config.numLayers);
  return out;
}
