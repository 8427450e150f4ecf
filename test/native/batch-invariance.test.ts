/**
 * Batch invariance: a sequence's logits are bitwise the same whatever else is in the step,
 * wherever it sits in the batch, however its prompt was chunked, and with 1 or 2 threads.
 * Seeded sampling (temperature 0.8, topP 0.9) then picks the same token too.
 *
 * Baseline: the target alone on a 1-thread executor, one token per step (a row at every
 * position), and once more as a single chunk. Then the target chunked at random, batched with
 * random other sequences (random lengths, chunkings and sampling), at random batch positions,
 * on a 1- or 2-thread executor whose pages still hold the baseline's stale KV, and sometimes
 * with its first pages already written by another sequence (a prefix-cache hit).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ModelConfig, ModelFamily, TensorMap } from '../../src/models/config.js';
import type { Executor } from '../../src/executor/step.js';
import { NativeExecutor } from '../../src/executor/native.js';
import type { KernelName, KvDtype } from '../../src/native/binding.js';
import { KERNELS } from './cpu.js';
import { randomConfig, randomTensors, seededRandom } from '../reference/tensors.js';
import {
  GREEDY, dealPages, interleave, oneTokenSteps, pagesFor, randomChunks, runSteps, type SampledRow, type Sampling, type SeqWork,
} from './steps.js';

type WeightDtype = 'f32' | 'bf16' | 'q8_0';

const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Why two rows are not bitwise equal, or undefined when they are. */
function difference(got: SampledRow, want: SampledRow): string | undefined {
  if (!bytes(got.logits).equals(bytes(want.logits))) {
    let at = 0, diff = 0;
    got.logits.forEach((v, i) => { const d = Math.abs(v - want.logits[i]); if (!(d <= diff)) { diff = d; at = i; } });
    return `logits differ: max abs diff ${diff} at vocab ${at} (${got.logits[at]} vs ${want.logits[at]})`;
  }
  if (got.token !== want.token) return `sampled token ${got.token} vs ${want.token}`;
  if (!Object.is(got.logprob, want.logprob)) return `logprob ${got.logprob} vs ${want.logprob}`;
  return undefined;
}

async function withExecutors<T>(
  config: ModelConfig, tensors: TensorMap, weightDtype: WeightDtype, kernel: KernelName, kvDtype: KvDtype,
  numPages: number, pageSize: number, numThreads: number,
  body: (single: Executor, batched: Executor) => Promise<T>,
): Promise<T> {
  const options = { config, tensors, weightDtype, kernel, kvDtype, numPages, pageSize, maxBatchTokens: 256, maxSeqs: 8 };
  const single = await NativeExecutor.create({ ...options, numThreads: 1 });
  try {
    if (numThreads === 1) return await body(single, single);
    const batched = await NativeExecutor.create({ ...options, numThreads });
    try {
      return await body(single, batched);
    } finally {
      batched.close();
    }
  } finally {
    single.close();
  }
}

const otherSampling = fc.oneof(
  fc.constant(GREEDY),
  fc.record({ temperature: fc.constantFrom(0.5, 1, 1.5), topK: fc.constantFrom(0, 5), topP: fc.constantFrom(1, 0.8), minP: fc.constantFrom(0, 0.05), seed: fc.nat() }),
);

const scenario = (family: ModelFamily, weightDtype: WeightDtype) => fc.record({
  config: randomConfig(family),
  tensorSeed: fc.nat(),
  pageSize: fc.constantFrom(1, 3, 4, 16),
  numThreads: fc.constantFrom(1, 2),
  kernel: fc.constantFrom<KernelName>(...KERNELS.filter((k) => k !== 'avx512')),
  kvDtype: fc.constantFrom<KvDtype>('f32', 'f16', 'bf16', 'q8_0'),
  targetLength: fc.integer({ min: 1, max: 40 }),
  others: fc.array(fc.record({ length: fc.integer({ min: 1, max: 40 }), sampling: otherSampling }), { minLength: 0, maxLength: 4 }),
  cachedPages: fc.integer({ min: 0, max: 4 }),
  samplingSeed: fc.nat(),
  planSeed: fc.nat(),
}).map((s) => ({ ...s, weightDtype, config: s.kvDtype === 'q8_0' ? q8HeadDim(s.config) : s.config }));

/** A q8_0 pool needs a head_dim of 16s: 16, 32 or 48 (one block, one, a block of 32 and one of 16). */
function q8HeadDim(c: ModelConfig): ModelConfig {
  const headDim = 16 * (1 + (c.headDim % 3));
  return { ...c, headDim, ...(c.family === 'gpt2' ? { hiddenSize: c.numHeads * headDim } : {}) };
}

describe.each<[ModelFamily, WeightDtype]>([['llama', 'f32'], ['llama', 'bf16'], ['gpt2', 'f32'], ['gpt2', 'bf16'], ['llama', 'q8_0']])('batch invariance (%s, %s weights)', (family, weightDtype) => {
  it('bitwise-equal logits and equal seeded samples: alone or batched, whole or chunked, prefix cached or not, 1 or 2 threads', async () => {
    await fc.assert(fc.asyncProperty(scenario(family, weightDtype), async (s) => {
      const { config, pageSize } = s;
      const rand = seededRandom(s.planSeed);
      const vocab = config.vocabSize;
      const sampling: Sampling = { temperature: 0.8, topK: 0, topP: 0.9, minP: 0, seed: s.samplingSeed };
      const lengths = [s.targetLength, ...s.others.map((o) => o.length)];
      const tokens = lengths.map((len) => Array.from({ length: len }, () => Math.floor(rand() * vocab)));
      const needs = tokens.map((t) => pagesFor(t.length, pageSize));
      const numPages = needs.reduce((a, b) => a + b, 0) + 2;
      const tensors = randomTensors(config, s.tensorSeed);

      await withExecutors(config, tensors, weightDtype, s.kernel, s.kvDtype, numPages, pageSize, s.numThreads, async (single, batched) => {
        // baseline: alone, one token per step, then alone as one chunk
        const alone: SeqWork = { seq: 0, tokens: tokens[0], chunks: [tokens[0].length], pages: dealPages([needs[0]], numPages, rand)[0], sampling };
        const baseline = await runSteps(single, oneTokenSteps(alone, pageSize), vocab);
        const whole = await runSteps(single, interleave([alone], pageSize, rand), vocab);
        const where = `${JSON.stringify(config)} ${weightDtype} ${s.kernel} kernel, ${s.kvDtype} KV, pageSize ${pageSize}`;
        const last = tokens[0].length - 1;
        expect(difference(whole[0], baseline[last]), `${where}: one chunk vs one token per step, pos ${last}`).toBeUndefined();

        // batched: the target chunked at random among others, on fresh page deals over stale KV;
        // its first cachedLen tokens possibly already in pages written by another sequence (a prefix-cache hit)
        const pages = dealPages(needs, numPages, rand);
        const cachedLen = Math.min(s.cachedPages, Math.floor(last / pageSize)) * pageSize;
        const donor: SeqWork = { seq: -1, tokens: tokens[0].slice(0, cachedLen), chunks: randomChunks(cachedLen, rand), pages: pages[0], sampling: GREEDY };
        const work: SeqWork[] = tokens.map((t, seq) => ({
          seq, tokens: t, chunks: randomChunks(t.length - (seq === 0 ? cachedLen : 0), rand), pages: pages[seq], cachedLen: seq === 0 ? cachedLen : 0,
          sampling: seq === 0 ? sampling : s.others[seq - 1].sampling, sampleRate: seq === 0 ? 1 : 0.5,
        }));
        await runSteps(batched, interleave([donor], pageSize, rand), vocab);
        const rows = await runSteps(batched, interleave(work, pageSize, rand), vocab);
        const targetRows = rows.filter((r) => r.seq === 0);
        expect(targetRows.map((r) => r.pos).at(-1)).toBe(last);
        for (const row of targetRows) {
          expect(difference(row, baseline[row.pos]), `${where} threads ${s.numThreads} cached ${cachedLen} chunks ${JSON.stringify(work[0].chunks)}, pos ${row.pos}`).toBeUndefined();
        }
      });
    }), { numRuns: 25 });
  });
});
