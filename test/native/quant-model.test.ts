/**
 * Quantized models in the executor: every kernel path (forced with NANO_SERVING_KERNEL, read
 * when an executor is created) gives bitwise the logits of the portable path, whatever the
 * batch, the chunking and the thread count (batch invariance). Files: the committed
 * llama-quantize fixtures (Q4_K_M: Q4_K + Q6_K; Q8_0), and weightDtype 'q8_0' / 'q4_k'
 * quantizing synthetic f32 weights at load.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NativeExecutor } from '../../src/executor/native.js';
import type { ModelConfig, TensorMap } from '../../src/models/config.js';
import { loadGgufModel } from '../../src/models/gguf-loader.js';
import { loadNative } from '../../src/native/load.js';
import { syntheticTensors } from '../../src/models/synthetic.js';
import { seededRandom } from '../reference/tensors.js';
import { GREEDY, dealPages, interleave, oneTokenSteps, pagesFor, randomChunks, runSteps, type SampledRow, type SeqWork } from './steps.js';

const FIXTURES = join(import.meta.dirname, '..', 'models', 'fixtures', 'quant');
const PAGE = 16;
const saved = process.env.NANO_SERVING_KERNEL;
afterEach(() => {
  if (saved === undefined) delete process.env.NANO_SERVING_KERNEL;
  else process.env.NANO_SERVING_KERNEL = saved;
});

interface Model { config: ModelConfig; tensors: TensorMap; weightDtype: 'f32' | 'q8_0' | 'q4_k' }

function create(m: Model, kernel: string, numThreads: number): NativeExecutor {
  process.env.NANO_SERVING_KERNEL = kernel;
  return NativeExecutor.create({ config: m.config, tensors: m.tensors, weightDtype: m.weightDtype, numPages: 64, pageSize: PAGE, numThreads, maxBatchTokens: 256, maxSeqs: 8 });
}

function work(m: Model, seed: number): SeqWork[] {
  const rand = seededRandom(seed);
  const lens = [37, 5, 21];
  const pages = dealPages(lens.map((n) => pagesFor(n, PAGE)), 64, rand);
  return lens.map((len, seq) => ({
    seq, tokens: Array.from({ length: len }, () => 3 + Math.floor(rand() * (m.config.vocabSize - 3))),
    chunks: randomChunks(len, rand, 16), pages: pages[seq], sampling: GREEDY, sampleRate: 0.5,
  }));
}

const key = (r: SampledRow): string => `${r.seq}@${r.pos}`;

async function expectPathsAgree(m: Model): Promise<void> {
  const seqs = work(m, 5);
  const baseline = new Map<string, SampledRow>();
  const ref = create(m, 'portable', 1);
  try {
    expect(ref.nativeInfo().quantKernel).toBe('portable');
    for (const w of seqs) for (const row of await runSteps(ref, oneTokenSteps(w, PAGE), m.config.vocabSize)) baseline.set(key(row), row);
  } finally {
    ref.close();
  }
  for (const kernel of loadNative().quant.kernels()) {
    for (const threads of [1, 2]) {
      const ex = create(m, kernel, threads);
      try {
        expect(ex.nativeInfo().quantKernel).toBe(kernel);
        const rows = await runSteps(ex, interleave(seqs, PAGE, seededRandom(threads * 17 + kernel.length)), m.config.vocabSize);
        expect(rows.length).toBeGreaterThan(3);
        for (const row of rows) {
          const want = baseline.get(key(row))!;
          expect(Buffer.from(row.logits.buffer).equals(Buffer.from(want.logits.buffer)), `${kernel}, ${threads} threads, ${key(row)}`).toBe(true);
          expect(row.token).toBe(want.token);
        }
      } finally {
        ex.close();
      }
    }
  }
}

describe('quantized models: every kernel path, batched and chunked, gives the bits of the portable path alone', () => {
  for (const file of ['q4_k_m.gguf', 'q8_0.gguf']) {
    it(`${file} (llama-quantize)`, async () => {
      const model = await loadGgufModel(join(FIXTURES, file));
      await expectPathsAgree({ config: model.config, tensors: model.tensors, weightDtype: 'f32' });
    }, 60_000);
  }
  const config: ModelConfig = {
    family: 'llama', vocabSize: 300, hiddenSize: 256, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 64, intermediateSize: 512,
    contextLength: 128, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: true, qkvBias: false,
  };
  for (const weightDtype of ['q8_0', 'q4_k'] as const) {
    it(`weightDtype '${weightDtype}' on f32 weights (tied embeddings)`, async () => {
      const m: Model = { config, tensors: syntheticTensors(config, 3), weightDtype };
      const ex = create(m, 'auto', 1);
      try {
        const info = ex.nativeInfo();
        const f32Bytes = Object.values(m.tensors).reduce((a, t) => a + t.data.byteLength, 0);
        expect(info.weightBytes).toBeLessThan(f32Bytes / (weightDtype === 'q8_0' ? 3.5 : 6));
      } finally {
        ex.close();
      }
      await expectPathsAgree(m);
    }, 60_000);
  }
});
