/** The Executor backed by the native addon: a thin typed wrapper, errors mapped once. */
import { availableParallelism } from 'node:os';
import { ExecutorError, InvalidRequestError, wrapNativeError } from '../errors.js';
import type { ModelConfig, TensorMap } from '../models/config.js';
import { quantizeTensorMap } from '../models/quant-scheme.js';
import type { KernelName, KvDtype, NativeExecutorHandle, StepProfileFigures } from '../native/binding.js';
import { loadNative } from '../native/load.js';
import type { Executor, ExecutorInfo, StepInput, StepOutput } from './step.js';

export type WeightDtype = 'f32' | 'bf16' | 'q8_0' | 'q4_k';

export interface NativeExecutorCreateOptions {
  config: ModelConfig;
  tensors: TensorMap;
  /**
   * Storage of float matmul weights: 'f32' / 'bf16', or 'q8_0' / 'q4_k' to quantize them here
   * (our quantizer, src/models/quantize.ts) and run the quantized kernels. Tensors that come
   * quantized (GGUF) stay as they are whatever this says.
   */
  weightDtype?: WeightDtype;
  numPages: number;
  pageSize: number;
  /** Default: os.availableParallelism(). */
  numThreads?: number;
  maxBatchTokens: number;
  maxSeqs: number;
  /** 'portable', 'avx2' or 'avx512' forces that kernel path (tests, benches); default 'auto'. */
  kernel?: KernelName;
  /** KV pool element type: 'f32' (default), 'f16', 'bf16' or 'q8_0' (a head_dim that is a multiple of 16). */
  kvDtype?: KvDtype;
  /**
   * Single-stream decode: start the next step before it is asked for (native/src/decode_ahead.h).
   * Default: only when numThreads leaves a core to the JS thread (numThreads < availableParallelism()):
   * on 2 cores with 2 threads the JS thread then takes a core from the step, which cost more than
   * the round trip it hides (medium Q4_K_M, load 3-5: 308 against 341 tok/s).
   */
  decodeAhead?: boolean;
}

/** q8_0 KV blocks are 32 values of head_dim, the last one 16: other head_dims are refused before the pool is made. */
function checkKvDtype(kvDtype: KvDtype, config: ModelConfig): void {
  if (kvDtype === 'q8_0' && config.headDim % 16 !== 0) {
    throw new InvalidRequestError(`kvDtype 'q8_0' needs a head_dim that is a multiple of 16 (blocks of 32 values, the last one 16), got head_dim ${config.headDim}`, 'kvDtype');
  }
}

export class NativeExecutor implements Executor {
  readonly info: ExecutorInfo;
  private isClosed = false;

  private constructor(private readonly handle: NativeExecutorHandle, info: ExecutorInfo, readonly decodesAhead: boolean) {
    this.info = info;
  }

  /** Loads the weights into native storage and allocates the KV pool; throws ExecutorError on bad config or tensors. */
  static create(options: NativeExecutorCreateOptions): NativeExecutor {
    const { config, tensors, numPages, pageSize, maxBatchTokens, maxSeqs } = options;
    const numThreads = options.numThreads ?? availableParallelism();
    const weightDtype = options.weightDtype ?? 'f32';
    const isQuant = weightDtype === 'q8_0' || weightDtype === 'q4_k';
    checkKvDtype(options.kvDtype ?? 'f32', config);
    const decodeAhead = options.decodeAhead ?? numThreads < availableParallelism();
    let handle: NativeExecutorHandle;
    try {
      handle = new (loadNative().Executor)(config, isQuant ? quantizeTensorMap(config, tensors, weightDtype) : tensors, {
        weightDtype: isQuant ? 'f32' : weightDtype,
        numPages,
        pageSize,
        numThreads,
        maxBatchTokens,
        maxSeqs,
        kernel: options.kernel ?? 'auto',
        kvDtype: options.kvDtype ?? 'f32',
        decodeAhead,
      });
    } catch (err) {
      throw wrapNativeError(err);
    }
    return new NativeExecutor(handle, {
      vocabSize: config.vocabSize,
      contextLength: config.contextLength,
      numPages,
      pageSize,
      maxBatchTokens,
      maxSeqs,
      modelConfig: config,
    }, decodeAhead);
  }

  /** Rejects (never throws) with an ExecutorError whose nativeCode is the addon's code. */
  step(input: StepInput): Promise<StepOutput> {
    if (this.isClosed) return Promise.reject(new ExecutorError('executor is closed', 'ERR_NATIVE_CLOSED'));
    try {
      return this.handle.step(input).catch((err: unknown) => Promise.reject(wrapNativeError(err)));
    } catch (err) {
      return Promise.reject(wrapNativeError(err));
    }
  }

  /**
   * The step on the JS thread, blocking the event loop while it runs (binding.ts: stepSync): for
   * short steps, where the round trip through the step runner is a large share. Throws an
   * ExecutorError (the same codes as step(); ERR_NATIVE_SYNC for deferred token masks).
   */
  stepSync(input: StepInput): StepOutput {
    if (this.isClosed) throw new ExecutorError('executor is closed', 'ERR_NATIVE_CLOSED');
    try {
      return this.handle.stepSync(input);
    } catch (err) {
      throw wrapNativeError(err);
    }
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.handle.close();
  }

  /** Bytes of weights and KV, the GEMM kernel chosen at run time, and the thread count. */
  nativeInfo(): { weightBytes: number; kvBytes: number; kernel: string; quantKernel?: string; numThreads: number } {
    try {
      return this.handle.info();
    } catch (err) {
      throw wrapNativeError(err);
    }
  }

  /** The step profile since the last call (binding.ts: StepProfileFigures), reset and turned on or off; between steps only. */
  stepProfile(on: boolean): StepProfileFigures {
    try {
      return this.handle.profile(on);
    } catch (err) {
      throw wrapNativeError(err);
    }
  }
}
