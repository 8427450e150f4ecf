/**
 * The interference bench's waits (bench/interference-watch.ts) on the simulator, in the
 * session-25 run that never ended: 8 streams on small's shape (4,608-token context, maxTokens
 * to its end), an 890-page pool, then a 4,000-token prompt under maxStepCostRatio 1.1, paced,
 * calibrated, bf16 KV costs. The prefill is slower than the pool's room for the streams'
 * growth, so the prompt (the youngest request) is preempted, and waits behind the preempted
 * streams until most of them have reached maxTokens. The engine finishes every request and
 * leaks no page; the bench's last wait (32 more tokens of every stream after the prompt's
 * first token) can never hold. The old wait hung there (Node exit 13); the watch rejects,
 * naming the requests' states.
 */
import { describe, expect, it } from 'vitest';
import { InterferenceWaitError, StreamWatch } from '../../bench/interference-watch.js';
import { PRESETS } from '../../src/models/presets.js';
import { stepCostModel } from '../../src/scheduler/step-cost.js';
import { ByteTokenizer, EngineCore, linearLatency, SimulatedExecutor, stepShape, VirtualClock, ZEN5_SMALL } from '../../src/testing/index.js';

const NUM_PAGES = 890, CONTEXT = 4608, NUM_STREAMS = 8, STREAM_PROMPT = 32, LONG_PROMPT = 4000, WINDOW = 32;

function engine(maxRatio: number) {
  const clock = new VirtualClock();
  const latency = linearLatency(ZEN5_SMALL.bf16);
  const executor = new SimulatedExecutor({ vocabSize: 256, contextLength: CONTEXT, numPages: NUM_PAGES, pageSize: 16, maxBatchTokens: 8192, maxSeqs: 10, clock, latencyMs: (input) => latency(stepShape(input, 0)) });
  const stepCost = { ...stepCostModel(PRESETS.small, maxRatio, { kvDtype: 'bf16' }), isPaced: true, isCalibrated: true };
  return new EngineCore(executor, new ByteTokenizer(256, []), { maxBatchTokens: 8192, maxRunning: NUM_STREAMS + 2, maxChunkSize: 256, chunkedPrefill: true, prefixCache: true, maxWaiting: 1e9, clock, stepCost });
}

const prompt = (n: number, salt: number): number[] => Array.from({ length: n }, (_, j) => 1 + ((salt * 31 + j * 7) % 250));

/** The bench's three waits (runInterference), on the simulator; what the last one did. */
async function benchWaits(core: EngineCore): Promise<{ outcome: unknown; handles: ReturnType<EngineCore['submit']>[] }> {
  const watch = new StreamWatch('test', 60_000, () => `${core.stats().preemptions} preemptions`);
  const names = Array.from({ length: NUM_STREAMS }, (_, i) => `stream ${i}`);
  const counts = names.map((name, i) => {
    const handle = core.submit(prompt(STREAM_PROMPT, i), { maxTokens: CONTEXT - STREAM_PROMPT - 1, ignoreEos: true });
    return { handle, count: watch.track(name, handle) };
  });
  await watch.until('36 tokens of every stream', () => counts.every((c) => c.count() >= 36), names);
  const long = core.submit(prompt(LONG_PROMPT, 99), { maxTokens: WINDOW + 8, ignoreEos: true });
  const longCount = watch.track('the long prompt', long);
  await watch.until("the long prompt's first token", () => longCount() > 0, ['the long prompt']);
  const at = counts.map((c) => c.count());
  const outcome = await watch.until('32 more tokens of every stream', () => counts.every((c, i) => c.count() >= at[i] + WINDOW), names).then(() => 'met', (error: unknown) => error);
  return { outcome, handles: [...counts.map((c) => c.handle), long] };
}

describe('the interference bench when its pool is outgrown (session 25, exit code 13)', () => {
  it('the engine finishes every request with no page leaked; the bench\'s wait ends with an error naming the ended stream', async () => {
    const core = engine(1.1);
    const { outcome, handles } = await benchWaits(core);
    expect(outcome).toBeInstanceOf(InterferenceWaitError);
    const message = (outcome as Error).message;
    expect(message).toMatch(/waiting for 32 more tokens of every stream, stream \d ended \(length\) first/);
    expect(message).toMatch(/the long prompt \(id 9\): [a-z]+, \d+ tokens, [1-9]\d* preemptions/);
    const results = await Promise.all(handles.map((h) => h.done));
    expect(results.map((r) => [r.finishReason, r.outputTokens])).toEqual([...Array(NUM_STREAMS).fill(['length', CONTEXT - STREAM_PROMPT - 1]), ['length', WINDOW + 8]]);
    expect(results[NUM_STREAMS].metrics.numPreemptions).toBeGreaterThan(0);
    // Bounded: the work, recomputation included, in steps (36,623 decode tokens in ~10,300 steps here).
    expect(core.stats().steps).toBeLessThan(12_000);
    core.kv.cache?.clear();
    expect(core.kv.numFree).toBe(NUM_PAGES);
    await core.close();
  }, 30_000);

  it('with room in the pool (maxStepCostRatio 2: no preemption), the same waits are met', async () => {
    const core = engine(2);
    const { outcome, handles } = await benchWaits(core);
    expect(outcome).toBe('met');
    expect(core.stats().preemptions).toBe(0);
    for (const h of handles) h.abort();
    await core.close();
  }, 30_000);

  it('a wait that sees no progress ends at its timeout, naming each request\'s phase', async () => {
    const clock = new VirtualClock();
    const executor = new SimulatedExecutor({ numPages: 8, clock, latencyMs: () => 1 });
    const core = new EngineCore(executor, new ByteTokenizer(256, []), { maxBatchTokens: 64, maxRunning: 4, maxChunkSize: 64, chunkedPrefill: true, prefixCache: false, maxWaiting: 8, clock, manualSteps: true });
    const watch = new StreamWatch('stuck', 50);
    const count = watch.track('a request', core.submit([5, 6, 7], { maxTokens: 4 }));
    await expect(watch.until('its first token', () => count() > 0, ['a request'])).rejects.toThrow(/stuck: waiting for its first token, nothing for 0 s \(timeout 50 ms\)\. Requests: a request \(id 1\): waiting, 0 tokens, 0 preemptions/);
    await core.close();
  });
});
