/**
 * Chaos soak on the native executor, tiny preset (60 workloads, about 10 s idle; NANO_SOAK_SCALE multiplies the count).
 * Half the workloads run NanoServingEngine.create({ model: 'tiny' }) as users do; the other
 * half wrap the native executor so steps fail (before or after the native step ran) or run
 * slow. Penalties and logprobs are on, so every native path is walked (also under ASan:
 * npm run test:asan).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NanoServingEngine } from '../../src/engine/engine.js';
import { NativeExecutor } from '../../src/executor/native.js';
import { presetConfig } from '../../src/models/presets.js';
import { syntheticTensors } from '../../src/models/synthetic.js';
import { schedule } from '../../src/scheduler/policy.js';
import type { SchedulerConfig, SchedulerView } from '../../src/scheduler/view.js';
import { ChaosExecutor, chaosWorkloadArb, type ChaosWorkload } from '../../src/testing/chaos.js';
import { checkStepPlan } from '../../src/testing/invariants.js';
import { addTotals, checkChaosRun, emptyTotals } from './chaos-checks.js';
import { runChaos } from './chaos-runner.js';
import { describeFailure, soakCount, soakSeed } from './soak.js';

const TINY = presetConfig('tiny');
const TENSORS = syntheticTensors(TINY, 0);

async function createEngine(workload: ChaosWorkload, withFaults: boolean, planProblems: string[]) {
  const { engine } = workload;
  const options = {
    kvCachePages: engine.numPages,
    pageSize: engine.pageSize,
    maxChunkSize: engine.maxChunkSize,
    maxBatchTokens: engine.maxBatchTokens,
    maxRunning: engine.maxRunning,
    chunkedPrefill: engine.chunkedPrefill,
    prefixCache: engine.prefixCache,
    maxWaiting: Number.isFinite(workload.maxWaiting) ? workload.maxWaiting : undefined,
    requestTimeoutMs: workload.requestTimeoutMs,
    threads: 1 + (workload.faults.seed % 2),
    policy: (view: SchedulerView, config: SchedulerConfig) => {
      const plan = schedule(view, config);
      if (planProblems.length < 5) planProblems.push(...checkStepPlan(view, config, plan));
      return plan;
    },
  };
  if (!withFaults) return { engine: await NanoServingEngine.create({ model: 'tiny', ...options }), executor: { numFailedSteps: 0, numSlowSteps: 0 } };
  const native = NativeExecutor.create({
    config: TINY, tensors: TENSORS, numPages: engine.numPages, pageSize: engine.pageSize,
    numThreads: options.threads, maxBatchTokens: engine.maxBatchTokens, maxSeqs: engine.maxRunning,
  });
  const executor = new ChaosExecutor(native, workload.faults);
  return { engine: await NanoServingEngine.create({ executor, ...options }), executor };
}

describe('chaos soak: the full engine on the native executor (tiny preset)', () => {
  const count = soakCount(60);
  it(`random arrivals, aborts, faults, deadlines, preemption and close in flight (${count} workloads)`, async () => {
    const seed = soakSeed();
    const totals = emptyTotals();
    const failures: string[] = [];
    const arb = chaosWorkloadArb({ vocabSizes: [TINY.vocabSize], contextLength: TINY.contextLength, maxPages: 24, maxPrompt: 80, maxNewTokens: 16, maxMs: 20, penalties: true });
    for (let batch = 0; totals.workloads < count && failures.length === 0; batch++) {
      for (const [i, workload] of fc.sample(arb, { seed: seed + batch, numRuns: 10 }).entries()) {
        if (totals.workloads >= count) break;
        const planProblems: string[] = [];
        const { engine, executor } = await createEngine(workload, (batch + i) % 2 === 1, planProblems);
        const run = await runChaos(workload, engine, { hangMs: 20_000, drainAtEnd: i % 2 === 0 });
        const problems = [...planProblems, ...checkChaosRun(run, { eosTokenIds: engine.tokenizer.eosTokenIds })];
        addTotals(totals, run, executor);
        if (problems.length > 0) {
          failures.push(describeFailure({ seed, batch, index: i, workload, problems }));
          break;
        }
      }
    }
    console.log(`chaos soak (native tiny, seed ${seed}): ${JSON.stringify(totals)}`);
    expect(failures).toEqual([]);
    expect(totals.workloads).toBe(count);
  }, 600_000);
});
