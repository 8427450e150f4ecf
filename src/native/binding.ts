/**
 * The whole native surface, typed in one place. Everything else depends on these
 * interfaces; src/native/load.ts is the only module that touches the .node file.
 *
 * Tensors: f32 / f16 / bf16 typed arrays, or quantized ggml blocks (q8_0, q4_0, q4_k, q5_k, q6_k:
 * a Uint8Array of each row's blocks), which stay quantized.
 *
 * Tensor names (canonical, GGUF-like; every linear weight row-major [out, in], y = x W^T + b):
 *   token_embd.weight [vocab, hidden]          position_embd.weight [context, hidden]   (gpt2)
 *   blk.N.attn_norm.weight [hidden] (+ .bias on gpt2)
 *   blk.N.attn_q.weight [numHeads*headDim, hidden]   blk.N.attn_k.weight / attn_v.weight [numKvHeads*headDim, hidden]
 *     (+ .bias [rows] on gpt2, or on llama when qkvBias)
 *   blk.N.attn_output.weight [hidden, numHeads*headDim] (+ .bias on gpt2)
 *   blk.N.ffn_norm.weight [hidden] (+ .bias on gpt2)
 *   llama: blk.N.ffn_gate.weight, blk.N.ffn_up.weight [ffn, hidden]; blk.N.ffn_down.weight [hidden, ffn]   (SwiGLU)
 *   gpt2:  blk.N.ffn_up.weight [ffn, hidden] + .bias; blk.N.ffn_down.weight [hidden, ffn] + .bias           (GELU, tanh form)
 *   output_norm.weight [hidden] (+ .bias on gpt2)
 *   output.weight [vocab, hidden] unless tieEmbeddings
 *   qkNorm (Qwen3, Gemma 3): blk.N.attn_q_norm.weight, blk.N.attn_k_norm.weight [headDim]
 *   postNorms (Gemma 2/3): blk.N.attn_post_norm.weight, blk.N.ffn_post_norm.weight [hidden]
 *   (Gemma's (1 + w) norm weights arrive as 1 + w.) The optional ModelConfig features (rotary
 *   tables, windows, scales, soft-caps, ffnAct) are read by native/src/js_parse_features.cpp.
 */
import type { ModelConfig, QuantDtype, TensorMap } from '../models/config.js';
import type { StepInput, StepOutput } from '../executor/step.js';

/** A GEMM kernel path: 'auto' picks the best the CPU has (AVX-512, else AVX2 + FMA, else portable). */
export type KernelName = 'auto' | 'portable' | 'avx2' | 'avx512';

/**
 * Element type of the KV pool: f32, 16-bit (half the memory and attention traffic; f16 keeps 10
 * mantissa bits, bf16 8), or q8_0: int8 codes with one f32 scale (amax / 127) per block of 32
 * values along head_dim, the last block 16 when head_dim is an odd multiple of 16 (a head_dim
 * that is not a multiple of 16 is refused); 1.125 bytes a value at head_dim 64, 1.17 at 48.
 */
export type KvDtype = 'f32' | 'f16' | 'bf16' | 'q8_0';

export interface NativeExecutorOptions {
  /** Storage of the matmul weights; embeddings and norms may stay f32. */
  weightDtype: 'f32' | 'bf16';
  numPages: number;
  pageSize: number;
  numThreads: number;
  /** Scratch is sized for this many tokens per step; a larger step is rejected. */
  maxBatchTokens: number;
  /** Scratch is sized for this many sequences per step. */
  maxSeqs: number;
  /** Kernel path of the GEMMs, attention, row ops and sampling. Default 'auto' (the best the CPU has); 'portable', 'avx2' or 'avx512' forces that path (ERR_NATIVE_CONFIG when the CPU lacks it). With 'auto', NANO_SERVING_KERNEL=portable|avx2|avx512 forces one, NANO_SERVING_KERNEL=avx512-bf16 opts bf16 weights into vdpbf16ps (bf16 activations), and for quantized weights NANO_SERVING_KERNEL=avx2 | avx-vnni | avx512-vnni forces that path (avx-vnni also runs the rest of the step on AVX2, as a CPU with AVX-VNNI and no AVX-512 does). */
  kernel?: KernelName;
  /** KV pool element type; default 'f32'. */
  kvDtype?: KvDtype;
  /** Decode ahead (native/src/decode_ahead.h): after a step of one sequence decoding one sampled token (no mask, logit bias or penalties), start the step that feeds that token back before it is asked for; default false. */
  decodeAhead?: boolean;
}

export interface NativeExecutorHandle {
  /** Validates synchronously (throws an Error with a `code`), then computes off the event loop. One step in flight at a time. */
  step(input: StepInput): Promise<StepOutput>;
  /**
   * The same step computed on the calling thread (the JS thread is the pool's thread 0 and the
   * event loop waits for it): no hand-off to the step runner and no callback back, so none of the
   * binding's round trip. Same checks and errors as step(), thrown; deferred token masks
   * (maskReady) are refused (ERR_NATIVE_SYNC). Never leaves a step computed ahead behind it.
   */
  stepSync(input: StepInput): StepOutput;
  /** Frees the weights and the KV pool; later calls throw ERR_NATIVE_CLOSED. */
  close(): void;
  /** Bytes of weights and of KV storage, and the kernel paths chosen at run time (quantKernel: when some weight is quantized). */
  info(): { weightBytes: number; kvBytes: number; kernel: string; quantKernel?: string; numThreads: number };
  /** What the step profile gathered since the last call, then resets it and turns it on or off (between steps only: ERR_NATIVE_BUSY). */
  profile(on: boolean): StepProfileFigures;
}

/**
 * Where the steps' time went since the last profile() call, as thread 0 (the step runner)
 * saw it: wall ms per region of the split-by-layers forward pass (GEMMs include quantizing
 * their activations; row ops: embedding, norms, rotation, K/V writes, activations, residuals;
 * sampling includes its preparation), the part of those ms thread 0 waited at the end of a
 * pool job for the other threads, whole steps, and the runner's gaps between posting a result
 * and seeing the next step (the JS thread's wake-up, the binding, the caller's JS). numSteps
 * counts every step run to its end, those computed ahead and then dropped included; a step
 * the caller took from ahead has no gap of its own.
 */
export interface StepProfileFigures {
  gemmMs: number; attentionMs: number; rowOpsMs: number; lmHeadMs: number; samplingMs: number;
  poolWaitMs: number; dispatches: number; stepMs: number; gapMs: number; numSteps: number; numGaps: number;
  /** Steps computed ahead (decodeAhead) that the caller then asked for, and that were dropped (cancelled or not asked for). */
  numAhead: number; numAheadDropped: number;
}

/** The quantized formats' native code, for tests and the kernel bench (Uint8Array blocks, [rows, k]). */
export interface NativeQuant {
  /** Each row dequantized: Float32Array(rows * k). */
  dequantize(dtype: QuantDtype, blocks: Uint8Array, rows: number, k: number): Float32Array;
  /** y[m, n] = x[m, k] · W[n, k]^T with the named kernel ('portable' | 'avx2' | 'avx-vnni' | 'avx512-vnni' | 'auto'). */
  matmul(dtype: QuantDtype, blocks: Uint8Array, n: number, k: number, x: Float32Array, m: number, kernel: string, threads: number): Float32Array;
  /** Median seconds of one such product over `reps` runs, wall clock and the calling thread's CPU time (the matrix stored in the kernel's layout once, untimed): the kernel bench. */
  timeMatmul(dtype: QuantDtype, blocks: Uint8Array, n: number, k: number, x: Float32Array, m: number, kernel: string, threads: number, reps: number): { wall: number; cpu: number };
  /** The kernel names this CPU runs, 'portable' first. */
  kernels(): string[];
  /** GB/s reading a fresh buffer of `megabytes` split over `threads` (best of 3): the bench's memory bound. */
  readBandwidth(megabytes: number, threads: number): number;
  /** Each headDim run of `values` quantized as the q8_0 KV pool stores a key or value: the codes in order, one scale per block (for tests). */
  kvQ8(values: Float32Array, headDim: number): { codes: Int8Array; scales: Float32Array };
}

export interface NativeBinding {
  version: string;
  quant: NativeQuant;
  /** The whole file as a private memory mapping (unmapped when the ArrayBuffer is collected); the executor drops the pages it copied weights from. */
  mapFile(path: string): ArrayBuffer;
  Executor: new (config: ModelConfig, tensors: TensorMap, options: NativeExecutorOptions) => NativeExecutorHandle;
  /**
   * The spin budget's rules (native/src/spin_wait.h) fed a list of waits, for tests: each event is
   * [kind, waitedMicros, busy] (kind 0: work caught while spinning, 1: the spin ran out, 2: woken
   * by work); returns the microseconds the next wait would spin after each event.
   */
  spinBudget(maxMicros: number, events: ReadonlyArray<readonly [0 | 1 | 2, number, boolean]>): number[];
  /**
   * Which builds of each kernel family ran in this process since the last reset: the f32 GEMM,
   * the quantized GEMM and its activation quantizer, attention, the KV store, the row ops (norms,
   * activations, residual adds) and sampling's vocabulary-wide loops. Each build records itself
   * when it runs, so a forced 'portable' kernel can be seen to run only 'portable' (baseline
   * x86-64) builds. `reset`: clear the record after reading it. For tests.
   */
  clonesUsed(reset?: boolean): Record<KernelFamily, KernelBuild[]>;
}

/** The kernel families NativeBinding.clonesUsed reports on. */
export type KernelFamily = 'gemm' | 'quantGemm' | 'quantActs' | 'attention' | 'kvStore' | 'rowOps' | 'sampling';

/** A build of a kernel family: 'portable' is baseline x86-64; 'f16c' the AVX + F16C f16 KV store. */
export type KernelBuild = 'portable' | 'avx2' | 'avx512' | 'avx-vnni' | 'avx512-vnni' | 'avx512-bf16' | 'f16c';

/** Codes on errors the addon throws. */
export type NativeErrorCode =
  | 'ERR_NATIVE_CONFIG'      // bad model config or options
  | 'ERR_NATIVE_TENSOR'      // missing tensor, wrong shape or dtype
  | 'ERR_NATIVE_SHAPE'       // step arrays of mismatched lengths, or over maxBatchTokens/maxSeqs
  | 'ERR_NATIVE_TOKEN'       // token id outside the vocabulary
  | 'ERR_NATIVE_POSITION'    // position negative, past the context, not consecutive, or not covered by the page table
  | 'ERR_NATIVE_PAGE'        // page id outside the pool
  | 'ERR_NATIVE_PARAM'       // non-finite or out-of-range sampling parameter
  | 'ERR_NATIVE_SEQ'         // a step names a sequence the executor does not keep, or one twice
  | 'ERR_NATIVE_BUSY'        // a step is already in flight
  | 'ERR_NATIVE_SYNC'        // stepSync given deferred token masks (maskReady)
  | 'ERR_NATIVE_STEP'        // the forward pass itself failed
  | 'ERR_NATIVE_CLOSED';     // executor closed
