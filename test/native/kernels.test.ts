// The kernel paths forced one by one on this CPU (NANO_SERVING_KERNEL's typed twin, the
// `kernel` option): each runs, each is batch invariant, and AVX2 and AVX-512 give the same
// bits (their GEMMs are one fma chain per element in the same order; attention does the same
// IEEE operations per lane in 16-lane vectors on every path), while portable, whose GEMM
// multiplies then adds, agrees closely. Shapes cross every edge of the tile driver: K past one K
// slice (128 f32), N not a multiple of a 64-column block or of a 16-column panel, and
// batches past one 6-row tile.
import { afterEach, describe, expect, it } from 'vitest';
import { NativeExecutor } from '../../src/executor/native.js';
import type { ModelConfig } from '../../src/models/config.js';
import type { KernelName } from '../../src/native/binding.js';
import { syntheticTensors } from '../../src/models/synthetic.js';
import { loadNative } from '../../src/native/load.js';
import { canRun } from './cpu.js';
import { GREEDY, runSteps, type Run, type Sampling } from './steps.js';

const WIDE: ModelConfig = {
  family: 'llama', vocabSize: 301, hiddenSize: 136, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 34,
  intermediateSize: 300, contextLength: 256, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: false, qkvBias: true,
};

// An output head of 8,300 columns: 130 blocks of 64, enough that more than four sampled rows
// claim it in ranges of blocks on 2 threads (gemm.cpp), where up to four split it in one
// contiguous run per thread (tile_runs.h).
const BIG_HEAD: ModelConfig = { ...WIDE, vocabSize: 8300, hiddenSize: 40, numHeads: 2, numKvHeads: 1, headDim: 20, intermediateSize: 48, numLayers: 1 };

// The gpt2 family's row ops: LayerNorm, GELU and the learned position embedding's add.
const GPT2: ModelConfig = { ...WIDE, family: 'gpt2', qkvBias: false };

const open: NativeExecutor[] = [];
afterEach(() => { while (open.length) open.pop()!.close(); });

function executor(kernel: KernelName, weightDtype: 'f32' | 'bf16' = 'f32', numThreads = 2, config = WIDE): NativeExecutor {
  const ex = NativeExecutor.create({
    config, tensors: syntheticTensors(config, 3), numPages: 64, pageSize: 8, numThreads, maxBatchTokens: 128, maxSeqs: 8,
    kernel, weightDtype,
  });
  open.push(ex);
  return ex;
}

const prompt = (n: number, salt: number): number[] => Array.from({ length: n }, (_, i) => (i * 29 + salt * 13 + 3) % 290);

/** Logits of the last token of a 23-token prompt, alone (23 rows) and beside two others (40 rows). */
async function alongsideOthers(ex: NativeExecutor): Promise<{ alone: Float32Array; batched: Float32Array }> {
  const run = (seq: number, tokens: number[], pages: number[]): Run => ({ seq, tokens, startPos: 0, pages, isSampled: true, sampling: GREEDY });
  const [alone] = await runSteps(ex, [[run(0, prompt(23, 0), [0, 1, 2])]], WIDE.vocabSize);
  const batched = await runSteps(ex, [[run(1, prompt(9, 1), [10, 11]), run(0, prompt(23, 0), [30, 31, 32]), run(2, prompt(8, 2), [20])]], WIDE.vocabSize);
  return { alone: alone.logits, batched: batched[1].logits };
}

describe.skipIf(!['x64'].includes(process.arch))('kernel paths forced on this CPU', () => {
  const kernels: KernelName[] = ['portable', 'avx2', 'avx512'];
  const available = canRun;

  it('every path the CPU has reports its name and is batch invariant', async () => {
    for (const kernel of kernels.filter(available)) {
      for (const dtype of ['f32', 'bf16'] as const) {
        const ex = executor(kernel, dtype);
        expect(ex.nativeInfo().kernel).toBe(kernel);
        const { alone, batched } = await alongsideOthers(ex);
        expect(Array.from(batched), `${kernel} ${dtype}`).toEqual(Array.from(alone));
      }
    }
  });

  it('a many-block output head gives each sampled row the same logits beside five others as alone', async () => {
    const run = (seq: number): Run => ({ seq, tokens: prompt(3 + seq, seq), startPos: 0, pages: [seq * 2], isSampled: true, sampling: GREEDY });
    for (const kernel of kernels.filter(available)) {
      for (const dtype of ['f32', 'bf16'] as const) {
        const ex = executor(kernel, dtype, 2, BIG_HEAD);
        const batched = await runSteps(ex, [[0, 1, 2, 3, 4, 5].map(run)], BIG_HEAD.vocabSize);
        for (const seq of [0, 3, 5]) {
          const [alone] = await runSteps(ex, [[{ ...run(seq), pages: [seq * 2 + 1] }]], BIG_HEAD.vocabSize);
          expect(Array.from(batched[seq].logits), `${kernel} ${dtype} seq ${seq}`).toEqual(Array.from(alone.logits));
        }
      }
    }
  });

  it('one to four sampled rows give the same logits on 1, 3 and 7 threads (the few-row runs split)', async () => {
    const run = (seq: number): Run => ({ seq, tokens: prompt(1, seq), startPos: 0, pages: [seq * 2], isSampled: true, sampling: GREEDY });
    for (const kernel of kernels.filter(available)) {
      for (const dtype of ['f32', 'bf16'] as const) {
        const batches = [[0], [0, 1], [0, 1, 2, 3]].map((seqs) => seqs.map(run));
        const one = await runSteps(executor(kernel, dtype, 1, BIG_HEAD), batches, BIG_HEAD.vocabSize);
        for (const threads of [3, 7]) {
          const many = await runSteps(executor(kernel, dtype, threads, BIG_HEAD), batches, BIG_HEAD.vocabSize);
          for (let i = 0; i < one.length; i++)
            expect(Array.from(many[i].logits), `${kernel} ${dtype} ${threads} threads, row ${i}`).toEqual(Array.from(one[i].logits));
        }
      }
    }
  });

  // Up to 128 rows the Intel tuning splits the columns in runs too, each thread's own next
  // strip prefetched by the row tiles of this one (gemm_avx2.cpp, gemm_avx512.cpp): 5..8 sampled
  // rows on 3 and 7 threads against 1, in both tunings, forced so that any CPU runs both.
  it('five to eight sampled rows give the same logits on 1, 3 and 7 threads in both GEMM tunings', async () => {
    const run = (seq: number): Run => ({ seq, tokens: prompt(1, seq), startPos: 0, pages: [seq * 2], isSampled: true, sampling: GREEDY });
    const batches = [5, 6, 7, 8].map((n) => Array.from({ length: n }, (_, seq) => run(seq)));
    const saved = process.env.NANO_SERVING_GEMM_TUNING;
    try {
      for (const tuning of ['intel', 'amd']) {
        process.env.NANO_SERVING_GEMM_TUNING = tuning;
        for (const kernel of (['avx2', 'avx512'] as const).filter(available)) {
          for (const dtype of ['f32', 'bf16'] as const) {
            const one = await runSteps(executor(kernel, dtype, 1, BIG_HEAD), batches, BIG_HEAD.vocabSize);
            for (const threads of [3, 7]) {
              const many = await runSteps(executor(kernel, dtype, threads, BIG_HEAD), batches, BIG_HEAD.vocabSize);
              for (let i = 0; i < one.length; i++)
                expect(Array.from(many[i].logits), `${kernel} ${tuning} ${dtype} ${threads} threads, row ${i}`).toEqual(Array.from(one[i].logits));
            }
          }
        }
      }
    } finally {
      if (saved === undefined) delete process.env.NANO_SERVING_GEMM_TUNING;
      else process.env.NANO_SERVING_GEMM_TUNING = saved;
    }
  });

  it('AVX2 and AVX-512 give the same bits, portable agrees closely', async () => {
    if (!available('avx2') || !available('avx512')) return;
    for (const dtype of ['f32', 'bf16'] as const) {
      const a = await alongsideOthers(executor('avx2', dtype));
      const b = await alongsideOthers(executor('avx512', dtype, 1));
      const p = await alongsideOthers(executor('portable', dtype));
      expect(Array.from(b.alone), dtype).toEqual(Array.from(a.alone));
      expect(Array.from(b.batched), dtype).toEqual(Array.from(a.batched));
      for (let i = 0; i < WIDE.vocabSize; i++) expect(Math.abs(p.alone[i] - a.alone[i])).toBeLessThan(1e-3);
    }
  });

  // The row ops (norms, activations, residual adds) and sampling's vocabulary-wide loops are
  // built three times (native/src/ops.cpp, sampling.cpp), the GEMM and attention once per
  // path; the forced kernel picks the build, so 'avx2' on an AVX-512 CPU runs no AVX-512 code
  // there either (an f32 KV cache is stored by the one baseline store).
  it('a forced kernel runs its own build of the GEMM, attention, row ops and sampling, and no other', async () => {
    const native = loadNative();
    const warm: Sampling = { temperature: 0.8, topK: 0, topP: 0.9, minP: 0, seed: 5 };
    const best = (['avx512', 'avx2', 'portable'] as const).find((k) => available(k))!;
    const cases: Array<[KernelName, string | undefined, string]> = [
      ...kernels.filter(available).map((k): [KernelName, string | undefined, string] => [k, undefined, k]),
      ['auto', undefined, best],
      ...(available('avx2') ? [['auto', 'avx2', 'avx2'] as [KernelName, string, string]] : []),
      // AVX-VNNI (a quantized path) is an AVX2 CPU's: the f32 side follows it to AVX2.
      ...(available('avx2') && native.quant.kernels().includes('avx-vnni') ? [['auto', 'avx-vnni', 'avx2'] as [KernelName, string, string]] : []),
    ];
    const saved = process.env.NANO_SERVING_KERNEL;
    try {
      for (const [kernel, env, expected] of cases) {
        if (env === undefined) delete process.env.NANO_SERVING_KERNEL;
        else process.env.NANO_SERVING_KERNEL = env;
        for (const config of [WIDE, GPT2]) {
          const ex = executor(kernel, 'f32', 2, config);
          native.clonesUsed(true);
          const run = (seq: number, sampling: Sampling): Run => ({ seq, tokens: prompt(5, seq), startPos: 0, pages: [seq], isSampled: true, sampling });
          await runSteps(ex, [[run(0, GREEDY), run(1, warm)]], config.vocabSize);
          const { gemm, attention, kvStore, rowOps, sampling } = native.clonesUsed(true);
          expect({ gemm, attention, kvStore, rowOps, sampling }, `${kernel} (NANO_SERVING_KERNEL=${env}) ${config.family}`).toEqual({
            gemm: [expected], attention: [expected], kvStore: ['portable'], rowOps: [expected], sampling: [expected],
          });
          expect(ex.nativeInfo().kernel).toBe(expected);
        }
      }
    } finally {
      if (saved === undefined) delete process.env.NANO_SERVING_KERNEL;
      else process.env.NANO_SERVING_KERNEL = saved;
    }
  });

  // With one token, attention's output is its value row whatever the lanes, and the AVX2 and
  // AVX-512 GEMMs are the same fma chains: the logits, tokens and logprobs can only be equal
  // bit for bit if the two builds of every row op and of sampling are (llama: RMSNorm, SwiGLU;
  // gpt2: LayerNorm, GELU, the position add).
  it('the AVX2 and AVX-512 builds of the row ops and of sampling give the same bits', async () => {
    if (!available('avx2') || !available('avx512')) return;
    const warm: Sampling = { temperature: 0.7, topK: 0, topP: 1, minP: 0, seed: 11 };
    for (const config of [WIDE, GPT2]) {
      const run = (seq: number): Run => ({ seq, tokens: [seq * 37 + 5], startPos: 0, pages: [seq], isSampled: true, sampling: seq % 2 ? warm : GREEDY });
      const steps = [[0, 1, 2, 3].map(run)];
      const a = await runSteps(executor('avx2', 'f32', 2, config), steps, config.vocabSize);
      const b = await runSteps(executor('avx512', 'f32', 2, config), steps, config.vocabSize);
      for (let i = 0; i < a.length; i++) {
        expect(Array.from(a[i].logits), `${config.family} seq ${i}`).toEqual(Array.from(b[i].logits));
        expect([a[i].token, a[i].logprob]).toEqual([b[i].token, b[i].logprob]);
      }
    }
  });

  // The two GEMM tunings (gemm_avx512.cpp: intel = whole K up to 4,096 f32, the next strip's
  // prefetch shared by the row tiles up to 128 rows and none above, amd = 32 KiB K slices = 128 f32
  // and the next strip prefetched by every row tile; gemm_avx2.cpp: the prefetch shared up to 128
  // rows on intel), forced through NANO_SERVING_GEMM_TUNING, each against AVX2's amd tuning bit
  // for bit: prompts of 1..8, 11..13 and 17 rows
  // give every row count of the 6-row tile (the groups' even split included), 49, 53 and 128 rows
  // cross a 48-row group (128: the last streamed row count, 3 groups), a down projection of K = 4,200 crosses a K slice in both tunings, and
  // the outputs (136, 272, 8,400 and 301 columns) end inside a block and inside a panel.
  it('both GEMM tunings of AVX2 and AVX-512 give the same bits for every tile row count, K slice and column edge', async () => {
    if (!available('avx2') || !available('avx512')) return;
    const LONG_K: ModelConfig = { ...WIDE, intermediateSize: 4200 };
    const lengths = [1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 17, 49, 53, 128];
    let page = 0;
    const steps = lengths.map((n, seq): Run[] => {
      const pages = Array.from({ length: Math.ceil(n / 8) }, () => page++);
      return [{ seq, tokens: prompt(n, seq), startPos: 0, pages, isSampled: true, sampling: GREEDY }];
    });
    const saved = process.env.NANO_SERVING_GEMM_TUNING;
    try {
      process.env.NANO_SERVING_GEMM_TUNING = 'amd';
      const ref = { f32: await runSteps(executor('avx2', 'f32', 2, LONG_K), steps, LONG_K.vocabSize),
        bf16: await runSteps(executor('avx2', 'bf16', 2, LONG_K), steps, LONG_K.vocabSize) };
      for (const tuning of ['intel', 'amd']) {
        process.env.NANO_SERVING_GEMM_TUNING = tuning;
        for (const kernel of ['avx2', 'avx512'] as const) {
          if (kernel === 'avx2' && tuning === 'amd') continue;  // the reference
          for (const dtype of ['f32', 'bf16'] as const) {
            const b = await runSteps(executor(kernel, dtype, 2, LONG_K), steps, LONG_K.vocabSize);
            for (let i = 0; i < lengths.length; i++)
              expect(Array.from(b[i].logits), `${kernel} ${tuning} ${dtype} ${lengths[i]} rows`).toEqual(Array.from(ref[dtype][i].logits));
          }
        }
      }
      process.env.NANO_SERVING_GEMM_TUNING = 'zen9';
      expect(() => executor('avx512')).toThrow(/NANO_SERVING_GEMM_TUNING must be/);
    } finally {
      if (saved === undefined) delete process.env.NANO_SERVING_GEMM_TUNING;
      else process.env.NANO_SERVING_GEMM_TUNING = saved;
    }
  });

  it('refuses an unknown kernel name, from the option and from NANO_SERVING_KERNEL', () => {
    expect(() => executor('sse9' as KernelName)).toThrow(/kernel must be/);
    const saved = process.env.NANO_SERVING_KERNEL;
    process.env.NANO_SERVING_KERNEL = 'avx3';
    try {
      expect(() => executor('auto')).toThrow(/NANO_SERVING_KERNEL must be/);
      process.env.NANO_SERVING_KERNEL = 'avx2';
      if (available('avx2')) expect(executor('auto').nativeInfo().kernel).toBe('avx2');
      expect(executor('portable').nativeInfo().kernel).toBe('portable');  // the option wins over the variable
    } finally {
      if (saved === undefined) delete process.env.NANO_SERVING_KERNEL;
      else process.env.NANO_SERVING_KERNEL = saved;
    }
  });
});
