/**
 * Chaos soak on the simulated executor: thousands of random workloads through the full
 * engine (800 workloads, about 10 s idle; NANO_SOAK_SCALE=N for N times as many; NANO_SOAK_SEED=S to replay a run).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EngineCore } from '../../src/engine/core.js';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';
import { SimulatedExecutor } from '../../src/executor/simulated.js';
import { ChaosExecutor, chaosWorkloadArb, type ChaosWorkload } from '../../src/testing/chaos.js';
import { checkStepPlan } from '../../src/testing/invariants.js';
import { addTotals, checkChaosRun, emptyTotals, simulatedOracle } from './chaos-checks.js';
import { runChaos } from './chaos-runner.js';
import { describeFailure, soakCount, soakSeed } from './soak.js';

const SIM_EOS = 0;

async function runOne(workload: ChaosWorkload, drainAtEnd: boolean) {
  const executor = new ChaosExecutor(
    new SimulatedExecutor({ vocabSize: workload.vocabSize, numPages: workload.engine.numPages, pageSize: workload.engine.pageSize }),
    workload.faults,
  );
  const planProblems: string[] = [];
  const core = new EngineCore(executor, new ByteTokenizer(workload.vocabSize, [SIM_EOS]), {
    ...workload.engine,
    maxWaiting: workload.maxWaiting,
    requestTimeoutMs: workload.requestTimeoutMs,
    onPlan: (view, plan) => planProblems.push(...checkStepPlan(view, workload.engine, plan)),
  });
  const run = await runChaos(workload, core, { hangMs: 10_000, drainAtEnd });
  const oracle = await simulatedOracle(workload);
  return { run, executor, problems: [...planProblems.slice(0, 5), ...checkChaosRun(run, { eosTokenIds: [SIM_EOS], oracle })] };
}

describe('chaos soak: the full engine on the simulated executor', () => {
  const count = soakCount(800);
  it(`random arrivals, aborts, faults, slow steps, deadlines, preemption and close in flight (${count} workloads)`, async () => {
    const seed = soakSeed();
    const totals = emptyTotals();
    const failures: string[] = [];
    for (let batch = 0; totals.workloads < count && failures.length === 0; batch++) {
      const workloads = fc.sample(chaosWorkloadArb(), { seed: seed + batch, numRuns: 25 });
      for (const [i, workload] of workloads.entries()) {
        if (totals.workloads >= count) break;
        const { run, executor, problems } = await runOne(workload, (batch + i) % 2 === 0);
        addTotals(totals, run, executor);
        if (problems.length > 0) {
          failures.push(describeFailure({ seed, batch, index: i, workload, problems }));
          break;
        }
      }
    }
    console.log(`chaos soak (simulated, seed ${seed}): ${JSON.stringify(totals)}`);
    expect(failures).toEqual([]);
    expect(totals.workloads).toBe(count);
  }, 600_000);
});
