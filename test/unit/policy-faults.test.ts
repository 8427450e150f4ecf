/** A bad policy fails the requests concerned with a typed error, never hangs the engine. */
import { describe, expect, it } from 'vitest';
import { EngineCore, type SchedulingPolicy } from '../../src/engine/core.js';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';
import { SchedulerError } from '../../src/errors.js';
import { SimulatedExecutor } from '../../src/executor/simulated.js';
import { schedule } from '../../src/scheduler/policy.js';
import type { StepPlan } from '../../src/scheduler/view.js';

const config = { maxBatchTokens: 64, maxRunning: 8, maxChunkSize: 32, chunkedPrefill: true, prefixCache: true, maxWaiting: Infinity };

function engineWith(policy: SchedulingPolicy, numPages = 64): EngineCore {
  const executor = new SimulatedExecutor({ vocabSize: 64, numPages, pageSize: 4 });
  return new EngineCore(executor, new ByteTokenizer(64, [0]), { ...config, policy });
}

const prompt = (n: number, base = 1): number[] => Array.from({ length: n }, (_, i) => base + (i % 50));

async function outcome(promise: Promise<unknown>): Promise<{ code?: string; message?: string; ok?: boolean }> {
  try {
    await promise;
    return { ok: true };
  } catch (error) {
    expect(error).toBeInstanceOf(SchedulerError);
    return { code: (error as SchedulerError).code, message: (error as Error).message };
  }
}

describe('bad policies are caught, the engine keeps serving', () => {
  it('a policy that never admits a request: it fails with ERR_STALL naming it; whenIdle resolves', async () => {
    let ignored = -1;
    const core = engineWith((view, cfg) => {
      const plan = schedule({ ...view, waiting: view.waiting.filter((r) => r.id !== ignored) }, cfg);
      return plan;
    });
    const starved = core.submit(prompt(9), { maxTokens: 3 });
    ignored = starved.id;
    const served = core.submit(prompt(7, 3), { maxTokens: 3 });
    await core.whenIdle();
    expect((await outcome(served.done)).ok).toBe(true);
    const failure = await outcome(starved.done);
    expect(failure.code).toBe('ERR_STALL');
    expect(failure.message).toContain(`request ${starved.id} starved`);
    const later = core.submit(prompt(5, 9), { maxTokens: 2 });
    ignored = -1;
    expect((await later.done).outputTokens).toBeGreaterThan(0);
    core.checkIntegrity();
    await core.close();
  });

  it('a policy that over-reports free pages: the runs it cannot back fail with ERR_PLAN; no livelock', async () => {
    const core = engineWith((view, cfg) => schedule({ ...view, numFreePages: view.numFreePages + 1000 }, cfg), 12);
    const handles = [0, 1, 2, 3].map((i) => core.submit(prompt(20, i + 1), { maxTokens: 8, ignoreEos: true }));
    await core.whenIdle();
    const results = await Promise.all(handles.map((h) => outcome(h.done)));
    expect(results.some((r) => r.code === 'ERR_PLAN')).toBe(true);
    for (const r of results) if (!r.ok) expect(r.message).toMatch(/new KV pages, but only \d+ are free or evictable/);
    expect(core.stats().pages.free + core.stats().pages.evictable).toBe(12);
    await core.close();
  });

  it('a policy that throws: the requests it saw fail once with ERR_POLICY; the engine serves the next ones', async () => {
    let calls = 0;
    let isBroken = true;
    const core = engineWith((view, cfg) => {
      calls++;
      if (isBroken) throw new Error('policy bug');
      return schedule(view, cfg);
    });
    const a = core.submit(prompt(6), { maxTokens: 2 });
    const b = core.submit(prompt(6, 5), { maxTokens: 2 });
    await core.whenIdle();
    for (const h of [a, b]) {
      const failure = await outcome(h.done);
      expect(failure.code).toBe('ERR_POLICY');
      expect(failure.message).toContain('policy bug');
    }
    expect(calls).toBe(1);
    isBroken = false;
    expect((await core.submit(prompt(6), { maxTokens: 2 }).done).outputTokens).toBe(2);
    await core.close();
  });

  it('an admit/preempt cycle without progress fails the requests cycling with ERR_STALL', async () => {
    // Admits the head with a one-token chunk, then preempts it next step, forever.
    const core = engineWith((view) => {
      const running = view.running[0];
      if (running) return { preempt: [running.id], admit: [], runs: [], numTokens: 0 };
      const head = view.waiting[0];
      const plan: StepPlan = { preempt: [], admit: [head.id], runs: [{ id: head.id, kind: 'prefill', start: 0, numTokens: 1, isSampled: false, numNewPages: 1 }], numTokens: 1 };
      return plan;
    });
    const h = core.submit(prompt(9), { maxTokens: 2 });
    await core.whenIdle();
    const failure = await outcome(h.done);
    expect(failure.code).toBe('ERR_STALL');
    expect(failure.message).toMatch(/cycling/);
    expect(core.stats().steps).toBeLessThan(10);
    await core.close();
  });

  it('a plan the engine cannot apply as written is refused by request (ERR_PLAN), others run', async () => {
    const core = engineWith((view, cfg) => {
      const plan = schedule(view, cfg);
      // Corrupt the page delta of every run for the request submitted first.
      return { ...plan, runs: plan.runs.map((r) => (r.id === 1 ? { ...r, numNewPages: r.numNewPages + 1 } : r)) };
    });
    const bad = core.submit(prompt(6), { maxTokens: 2 });
    const good = core.submit(prompt(6, 7), { maxTokens: 2 });
    const failure = await outcome(bad.done);
    expect(failure.code).toBe('ERR_PLAN');
    expect(failure.message).toContain('numNewPages is');
    expect((await good.done).outputTokens).toBe(2);
    await core.close();
  });

  it('a plan that runs a request twice in one step is refused for that request (ERR_PLAN), others run', async () => {
    const core = engineWith((view, cfg) => {
      const plan = schedule(view, cfg);
      const twice = plan.runs.find((r) => r.id === 1 && r.kind === 'decode');
      return twice ? { ...plan, runs: [...plan.runs, twice], numTokens: plan.numTokens + 1 } : plan;
    });
    const bad = core.submit(prompt(6), { maxTokens: 4 });
    const good = core.submit(prompt(6, 7), { maxTokens: 4 });
    const failure = await outcome(bad.done);
    expect(failure.code).toBe('ERR_PLAN');
    expect(failure.message).toContain('has two runs in one step');
    expect((await good.done).outputTokens).toBe(4);
    await core.close();
  });

  it('the view is frozen: sorting it throws inside the policy (ERR_POLICY) instead of reordering the queue', async () => {
    const core = engineWith((view, cfg) => {
      if (view.waiting.length > 1) [...view.waiting].sort((x, y) => y.id - x.id); // a copy may be sorted
      (view.waiting as unknown as { id: number }[]).sort((x, y) => y.id - x.id);
      return schedule(view, cfg);
    });
    const handles = [core.submit(prompt(6), { maxTokens: 2 }), core.submit(prompt(6, 9), { maxTokens: 2 })];
    for (const h of handles) expect((await outcome(h.done)).code).toBe('ERR_POLICY');
    await core.close();
  });

  it('an onPlan hook that throws fails the requests, it does not spin', async () => {
    const executor = new SimulatedExecutor({ vocabSize: 64, numPages: 64, pageSize: 4 });
    let calls = 0;
    const core = new EngineCore(executor, new ByteTokenizer(64, [0]), {
      ...config,
      onPlan: () => {
        calls++;
        throw new Error('hook bug');
      },
    });
    const h = core.submit(prompt(6), { maxTokens: 2 });
    expect((await outcome(h.done)).code).toBe('ERR_POLICY');
    await core.whenIdle();
    expect(calls).toBe(1);
    await core.close();
  });
});

describe('the harness reports a starved request and the last plans', () => {
  it('names the request and shows the plans before it', async () => {
    const { runWorkload } = await import('../../src/testing/harness.js');
    const workload = {
      engine: { numPages: 32, pageSize: 4, maxBatchTokens: 32, maxRunning: 4, maxChunkSize: 8, chunkedPrefill: true, prefixCache: false },
      vocabSize: 32,
      sharedPrefix: 0,
      failingSteps: [],
      requests: [
        { group: 0, promptLength: 6, maxTokens: 2, arrivalStep: 0, priority: 0, temperature: 0, seed: 1, abortBy: 'call' as const },
        { group: 1, promptLength: 5, maxTokens: 2, arrivalStep: 0, priority: 0, temperature: 0, seed: 2, abortBy: 'call' as const },
      ],
    };
    const neverSecond: SchedulingPolicy = (view, cfg) => schedule({ ...view, waiting: view.waiting.filter((r) => r.id !== 2) }, cfg);
    const report = await runWorkload(workload, { policy: neverSecond });
    const starved = report.problems.find((p) => p.startsWith('request 1: starved'));
    expect(starved).toBeDefined();
    expect(starved).toContain('ERR_STALL');
    expect(starved).toContain('"plan"');
    expect(report.lastPlans.length).toBeGreaterThan(0);
    expect(report.lastPlans.at(-1)!.waiting).toEqual([2]);
  });
});
