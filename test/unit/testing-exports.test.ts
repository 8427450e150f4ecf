/** nano-serving/testing exports everything the researcher needs (types are checked by npm run typecheck). */
import { describe, expect, it } from 'vitest';
import * as testing from '../../src/testing/index.js';
import type { EngineEvent, SchedulingPolicy, StepRecord, Workload, WorkloadReport } from '../../src/testing/index.js';

describe('nano-serving/testing', () => {
  it('exports the engine core, the harness, the arbitraries, the invariants, virtual time and the interference simulator', () => {
    for (const name of [
      'EngineCore', 'SimulatedExecutor', 'ByteTokenizer', 'schedule', 'checkPlanShape', 'WaitingQueue',
      'runWorkload', 'createSimulatedEngine', 'workloadArb', 'engineShapeArb', 'describeWorkload', 'chaosWorkloadArb', 'ChaosExecutor',
      'INVARIANTS', 'checkStepPlan', 'checkPageConservation', 'checkNoLeak',
      'VirtualClock', 'poissonArrivals', 'burstArrivals', 'traceArrivals', 'runTimedWorkload',
      'linearLatency', 'fitLinearLatency', 'stepShape', 'latencyModelFromCalibration', 'readCalibration', 'parseCalibration', 'CalibrationError',
      'simulateInterference', 'ZEN5_SMALL', 'ISSUE_17_WORKLOAD', 'stepCostFromLatency',
    ]) {
      expect(testing, name).toHaveProperty(name);
    }
    expect(Object.keys(testing.INVARIANTS)).toEqual(['budget', 'pageAccounting', 'pages', 'noLeak', 'fcfs', 'chunks', 'decode', 'outputs', 'streams', 'liveness']);
  });

  it('a policy typed as SchedulingPolicy runs through the harness, its events typed as EngineEvent', async () => {
    const policy: SchedulingPolicy = (view, config) => testing.schedule(view, config);
    const workload: Workload = {
      engine: { numPages: 16, pageSize: 4, maxBatchTokens: 32, maxRunning: 2, maxChunkSize: 8, chunkedPrefill: true, prefixCache: true },
      vocabSize: 64, sharedPrefix: 0, failingSteps: [],
      requests: [{ group: 0, promptLength: 5, maxTokens: 2, arrivalStep: 0, temperature: 0, seed: 0, abortBy: 'call', priority: 0 }],
    };
    const core = testing.createSimulatedEngine(workload, { policy });
    const types: Array<EngineEvent['type']> = [];
    core.events$.subscribe((event: EngineEvent) => types.push(event.type));
    await core.submit([1, 2, 3], { maxTokens: 2 }).done;
    await core.close();
    expect(types).toContain('step');
    const report: WorkloadReport = await testing.runWorkload(workload, { policy, trace: true });
    const record: StepRecord = report.trace![0];
    expect(record.ran).toEqual([1]);
    expect(testing.describeWorkload(workload)).toBe('workload(pages 16x4, budget 32, running 2, chunks 8, cache on; vocab 64; #0 +0 prompt 5/2)');
  });
});
