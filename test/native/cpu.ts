/** The kernel paths this CPU can run, found by asking the addon (a forced path the CPU lacks is refused). */
import { NativeExecutor } from '../../src/executor/native.js';
import type { ModelConfig } from '../../src/models/config.js';
import type { KernelName } from '../../src/native/binding.js';
import { syntheticTensors } from '../../src/models/synthetic.js';

const PROBE: ModelConfig = {
  family: 'llama', vocabSize: 32, hiddenSize: 16, numLayers: 1, numHeads: 2, numKvHeads: 1, headDim: 8,
  intermediateSize: 16, contextLength: 16, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: false, qkvBias: false,
};

export function canRun(kernel: KernelName): boolean {
  try {
    NativeExecutor.create({ config: PROBE, tensors: syntheticTensors(PROBE, 1), numPages: 2, pageSize: 8, numThreads: 1, maxBatchTokens: 8, maxSeqs: 1, kernel }).close();
    return true;
  } catch {
    return false;
  }
}

/** 'auto', 'portable' and every forced path the CPU has. */
export const KERNELS: KernelName[] = (['auto', 'portable', 'avx2', 'avx512'] as const).filter(canRun);
