/**
 * The cases of the single-stream decode bench (decode.ts): a preset with f32 or bf16 weights or
 * a GGUF file on a forced kernel path, its executor, the bytes one token streams, and the
 * matrices its probes re-run alone.
 */
import { basename } from 'node:path';
import { NativeExecutor, type NativeExecutorCreateOptions } from '../src/executor/native.js';
import type { StepInput } from '../src/executor/step.js';
import { loadGgufModel } from '../src/models/gguf-loader.js';
import { presetConfig, type PresetName } from '../src/models/presets.js';
import { syntheticTensors } from '../src/models/synthetic.js';
import type { ModelConfig, TensorMap } from '../src/models/config.js';
import type { KvDtype } from '../src/native/binding.js';
import { stepBytes, type StepBytes } from './decode-bound.js';
import type { Beside, DecodeRow } from './decode-tables.js';
import { greedyParams } from './greedy-params.js';
import type { QuantMatrixShape, WeightShape } from './probes.js';

export const PAGE = 16;
export const STEPS = 64;
const NUM_PAGES = Math.ceil(STEPS / PAGE) + 1;
export type Kernel = 'avx512' | 'avx2' | 'portable' | 'auto';


export interface Case extends DecodeRow {
  kernel: Kernel;
  config: ModelConfig;
  ex: NativeExecutor;
  gemvShapes?: WeightShape[];
  /** GGUF cases whose linear layers are all quantized: the fused matrices of one step. */
  quantShapes?: QuantMatrixShape[];
  /** The NANO_SERVING_KERNEL the case's executor was made under (the quantized probe follows it). */
  kernelEnv?: string;
  gguf?: string;
  /** --gemm-beside: per pass and gap, the step's GEMMs + LM head ms per token and the probe's figures right after. */
  beside: Beside[];
  /** Steps through stepSync (on the JS thread, as the engine's syncSteps 'auto' runs single-stream decode) rather than step(). */
  isSync?: boolean;
}

export function decodeStep(token: number, position: number, pages: number): StepInput {
  return {
    tokens: Int32Array.of(token), positions: Int32Array.of(position), seqStart: Int32Array.of(0, 1),
    pageTable: Int32Array.from({ length: pages }, (_, i) => i), pageStart: Int32Array.of(0, pages),
    isSampled: Uint8Array.of(1), ...greedyParams(1),
  };
}

/** The linear layers of one token in the step's order (qkv, attention out, gate|up, down per layer; the LM head). */
function gemvShapes(c: ModelConfig): WeightShape[] {
  const q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim, ffn = c.intermediateSize;
  const layer = [{ n: q + 2 * kv, k: c.hiddenSize }, { n: c.hiddenSize, k: q }, { n: 2 * ffn, k: c.hiddenSize }, { n: c.hiddenSize, k: ffn }];
  return [...Array.from({ length: c.numLayers }, () => layer).flat(), { n: c.vocabSize, k: c.hiddenSize }];
}

/** The quantized matrices of one step as the executor fuses them (q|k|v, gate|up), or undefined if any is a float tensor. */
function quantShapes(c: ModelConfig, tensors: TensorMap): QuantMatrixShape[] | undefined {
  const fused = (names: string[]): QuantMatrixShape | undefined => {
    const ts = names.map((n) => tensors[n]).filter((t) => t !== undefined);
    if (ts.length === 0 || ts.some((t) => t.dtype.startsWith('f') || t.dtype === 'bf16')) return undefined;
    return { parts: ts.map((t) => ({ type: t.dtype, rows: t.shape[0] })), k: ts[0].shape[1] };
  };
  const out: Array<QuantMatrixShape | undefined> = [];
  for (let l = 0; l < c.numLayers; l++) {
    const b = (n: string): string => `blk.${l}.${n}.weight`;
    out.push(fused([b('attn_q'), b('attn_k'), b('attn_v')]), fused([b('attn_output')]), fused([b('ffn_gate'), b('ffn_up')]), fused([b('ffn_down')]));
  }
  out.push(fused([tensors['output.weight'] ? 'output.weight' : 'token_embd.weight']));
  return out.every((m) => m !== undefined) ? out as QuantMatrixShape[] : undefined;
}

/**
 * The token embedding as the executor holds it (weights.cpp): a quantized one stays quantized
 * (and IS the LM head when tied: then it is streamed whole and none of it is left out), a float
 * one is held as f32.
 */
function heldEmbedding(c: ModelConfig, tensors: TensorMap): { bytes: number; rowBytes: number } {
  const t = tensors['token_embd.weight'];
  const isQuant = t !== undefined && !(t.dtype.startsWith('f') || t.dtype === 'bf16');
  const bytes = isQuant ? t.data.byteLength : c.vocabSize * c.hiddenSize * 4;
  return { bytes: isQuant && c.tieEmbeddings ? 0 : bytes, rowBytes: bytes / c.vocabSize };
}

function caseBytes(ex: NativeExecutor, c: ModelConfig, tensors: TensorMap): { bytes: StepBytes; heldMiB: number } {
  const info = ex.nativeInfo();
  const emb = heldEmbedding(c, tensors);
  const bytes = stepBytes({ weightBytes: info.weightBytes, embeddingBytes: emb.bytes, embeddingRowBytes: emb.rowBytes, kvBytesPerPosition: info.kvBytes / (NUM_PAGES * PAGE), steps: STEPS });
  return { bytes, heldMiB: (info.weightBytes + info.kvBytes) / 1048576 };
}

function executorFor(config: ModelConfig, tensors: TensorMap, kernel: Kernel, threads: number, kvDtype: KvDtype, decodeAhead: boolean | undefined, weightDtype?: 'f32' | 'bf16'): NativeExecutor {
  const options: NativeExecutorCreateOptions = {
    config, tensors, numPages: NUM_PAGES, pageSize: PAGE, numThreads: threads, maxBatchTokens: 16, maxSeqs: 1, kvDtype, decodeAhead,
    kernel: kernel === 'avx512' || kernel === 'avx2' || kernel === 'portable' ? kernel : 'auto',
  };
  if (weightDtype) options.weightDtype = weightDtype;
  // The quantized kernels follow NANO_SERVING_KERNEL (avx2 forces their AVX2 path too).
  const saved = process.env.NANO_SERVING_KERNEL;
  if (kernel === 'avx2' || kernel === 'portable') process.env.NANO_SERVING_KERNEL = kernel;
  try {
    return NativeExecutor.create(options);
  } finally {
    if (saved === undefined) delete process.env.NANO_SERVING_KERNEL;
    else process.env.NANO_SERVING_KERNEL = saved;
  }
}

/** How a case's steps are called: through the step runner (decoding ahead on, off or as the executor defaults it), or stepSync. */
export interface Variant { ahead: boolean | undefined; isSync: boolean }
const variantLabel = (v: Variant): string => (v.isSync ? ', stepSync' : v.ahead === undefined ? '' : v.ahead ? ', decode ahead' : ', no decode ahead');

export function presetCase(name: PresetName, dtype: 'f32' | 'bf16', kernel: Kernel, threads: number, kv: KvDtype, v: Variant): Case {
  const config = presetConfig(name);
  const tensors = syntheticTensors(config, 0);
  const ex = executorFor(config, tensors, kernel, threads, kv, v.isSync ? false : v.ahead, dtype);
  return {
    isSync: v.isSync, label: `${name} ${dtype}${variantLabel(v)}`, kernel: ex.nativeInfo().kernel as Kernel, config, ex, ...caseBytes(ex, config, tensors),
    gemvShapes: dtype === 'f32' ? gemvShapes(config) : undefined, ours: [], llama: [], beside: [],
  };
}

export async function ggufCase(file: string, kernel: Kernel, threads: number, kv: KvDtype, v: Variant): Promise<Case> {
  const model = await loadGgufModel(file);
  const ex = executorFor(model.config, model.tensors, kernel, threads, kv, v.isSync ? false : v.ahead);
  const info = ex.nativeInfo();
  return {
    isSync: v.isSync, label: `${basename(file, '.gguf')}${variantLabel(v)}`, kernel: (info.quantKernel ? `${info.kernel}+${info.quantKernel}` : info.kernel) as Kernel, config: model.config, ex,
    ...caseBytes(ex, model.config, model.tensors), gguf: file, ours: [], llama: [], beside: [],
    gemvShapes: Object.values(model.tensors).every((t) => t.dtype === 'f32') ? gemvShapes(model.config) : undefined,
    quantShapes: quantShapes(model.config, model.tensors), kernelEnv: kernel === 'avx2' || kernel === 'portable' ? kernel : undefined,
  };
}
