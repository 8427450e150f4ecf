/**
 * Where one raw step's time goes, region by region, from the executor's own step profile
 * (thread 0's wall ms per region: GEMMs, attention, row ops, LM head, sampling, and the part
 * of those it waited for the other threads at the ends of pool jobs): either one prompt of
 * `--prefill N` tokens in one step, or `--batch B` decodes at `--context C` (every sequence
 * sampled). Medians of `--steps` timed steps after 3 warm-up ones; the regions are the
 * profile's means over the same steps. Synthetic f32 weights of a preset.
 *   node dist/bench/step-regions.js [--model medium] [--kernel avx2] [--kv f32] [--threads 2]
 *                                   (--prefill 512 | --batch 32 --context 96) [--steps 8]
 */
import { NativeExecutor } from '../src/executor/native.js';
import { presetConfig } from '../src/models/presets.js';
import { syntheticTensors } from '../src/models/synthetic.js';
import type { KernelName, KvDtype } from '../src/native/binding.js';
import { decodeInput } from './step-profile.js';

const PAGE = 16;

const arg = (name: string, fallback: string): string => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
};

async function main(): Promise<void> {
  const config = presetConfig(arg('model', 'medium'));
  const prefill = Number(arg('prefill', '0'));
  const batch = prefill > 0 ? 1 : Number(arg('batch', '32'));
  const context = prefill > 0 ? 0 : Number(arg('context', '96'));
  const length = prefill > 0 ? prefill : 1;
  const steps = Math.max(1, Number(arg('steps', '8')));
  const pagesPerSeq = Math.ceil((context + length + 1) / PAGE);
  const ex = NativeExecutor.create({
    config, tensors: syntheticTensors(config, 0), weightDtype: 'f32', numPages: batch * pagesPerSeq, pageSize: PAGE,
    numThreads: Number(arg('threads', '2')), maxBatchTokens: Math.max(batch * length, 16), maxSeqs: batch,
    kvDtype: arg('kv', 'f32') as KvDtype, kernel: arg('kernel', 'auto') as KernelName,
  });
  try {
    const input = decodeInput(batch, context, pagesPerSeq, true, length);
    for (let i = 0; i < 3; i++) await ex.step(input);
    ex.stepProfile(true);
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      await ex.step(input);
      times.push(performance.now() - t0);
    }
    const p = ex.stepProfile(false);
    times.sort((a, b) => a - b);
    const per = (ms: number): number => Number((ms / p.numSteps).toFixed(2));
    console.log(JSON.stringify({
      kernel: ex.nativeInfo().kernel, kv: arg('kv', 'f32'), batch, length, context, steps,
      medianMs: Number(times[times.length >> 1].toFixed(2)), fastestMs: Number(times[0].toFixed(2)),
      stepMs: per(p.stepMs), gemmMs: per(p.gemmMs), attentionMs: per(p.attentionMs), rowOpsMs: per(p.rowOpsMs),
      lmHeadMs: per(p.lmHeadMs), samplingMs: per(p.samplingMs), poolWaitMs: per(p.poolWaitMs), dispatches: p.dispatches / p.numSteps,
    }));
  } finally {
    ex.close();
  }
}

await main();
