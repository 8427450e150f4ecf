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
import type { KernelName } from '../src/native/binding.js';
import { benchArgs, KV_DTYPES, PRESET_NAMES } from './args.js';
import { profiledStepTimes } from './raw-steps.js';
import { decodeInput } from './step-profile.js';

const PAGE = 16;

async function main(): Promise<void> {
  const args = benchArgs({ model: 'value', prefill: 'value', batch: 'value', context: 'value', steps: 'value', threads: 'value', kv: 'value', kernel: 'value' });
  const config = presetConfig(args.choice('model', PRESET_NAMES, 'medium'));
  const prefill = args.int('prefill', 0, 0);
  const batch = prefill > 0 ? 1 : args.int('batch', 32);
  const context = prefill > 0 ? 0 : args.int('context', 96, 0);
  const length = prefill > 0 ? prefill : 1;
  const steps = args.int('steps', 8);
  const kv = args.choice('kv', KV_DTYPES, 'f32');
  const pagesPerSeq = Math.ceil((context + length + 1) / PAGE);
  const ex = NativeExecutor.create({
    config, tensors: syntheticTensors(config, 0), weightDtype: 'f32', numPages: batch * pagesPerSeq, pageSize: PAGE,
    numThreads: args.int('threads', 2), maxBatchTokens: Math.max(batch * length, 16), maxSeqs: batch,
    kvDtype: kv, kernel: args.value('kernel', 'auto') as KernelName,
  });
  try {
    const input = decodeInput(batch, context, pagesPerSeq, true, length);
    for (let i = 0; i < 3; i++) await ex.step(input);
    const { times, profile: p } = await profiledStepTimes(ex, input, steps);
    times.sort((a, b) => a - b);
    const per = (ms: number): number => Number((ms / p.numSteps).toFixed(2));
    console.log(JSON.stringify({
      kernel: ex.nativeInfo().kernel, kv, batch, length, context, steps,
      medianMs: Number(times[times.length >> 1].toFixed(2)), fastestMs: Number(times[0].toFixed(2)),
      stepMs: per(p.stepMs), gemmMs: per(p.gemmMs), attentionMs: per(p.attentionMs), rowOpsMs: per(p.rowOpsMs),
      lmHeadMs: per(p.lmHeadMs), samplingMs: per(p.samplingMs), poolWaitMs: per(p.poolWaitMs), dispatches: p.dispatches / p.numSteps,
    }));
  } finally {
    ex.close();
  }
}

await main();
