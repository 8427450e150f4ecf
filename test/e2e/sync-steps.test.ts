/**
 * The engine's synchronous steps (engine option syncSteps, src/engine/sync-steps.ts): short
 * steps go to the native executor's stepSync, longer ones to step(), and the tokens are the
 * same whichever way each step went.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidRequestError, NanoServingEngine } from '../../src/index.js';
import { NativeExecutor } from '../../src/executor/native.js';
import { SimulatedExecutor } from '../../src/executor/simulated.js';
import type { Executor, StepInput, StepOutput } from '../../src/executor/step.js';
import { presetConfig } from '../../src/models/presets.js';
import { syntheticTensors } from '../../src/models/synthetic.js';
import type { SyncSteps } from '../../src/engine/sync-steps.js';

/** The native executor, counting which way each step went and the tokens it carried. */
class Counting implements Executor {
  readonly info: Executor['info'];
  readonly decodesAhead: boolean;
  readonly calls: Array<{ sync: boolean; tokens: number }> = [];
  constructor(private readonly inner: NativeExecutor) {
    this.info = inner.info;
    this.decodesAhead = inner.decodesAhead;
  }
  step(input: StepInput): Promise<StepOutput> {
    this.calls.push({ sync: false, tokens: input.tokens.length });
    return this.inner.step(input);
  }
  stepSync(input: StepInput): StepOutput {
    this.calls.push({ sync: true, tokens: input.tokens.length });
    return this.inner.stepSync(input);
  }
  close(): void {
    this.inner.close();
  }
}

const engines: NanoServingEngine[] = [];
afterEach(async () => { while (engines.length) await engines.pop()!.close(); });

async function engineWith(syncSteps: SyncSteps | undefined): Promise<{ engine: NanoServingEngine; ex: Counting }> {
  const config = presetConfig('tiny');
  const ex = new Counting(NativeExecutor.create({ config, tensors: syntheticTensors(config, 3), numPages: 64, pageSize: 16, numThreads: 2, maxBatchTokens: 256, maxSeqs: 8, decodeAhead: false }));
  const engine = await NanoServingEngine.create({ executor: ex, kvCachePages: 64, pageSize: 16, maxBatchTokens: 256, maxRunning: 8, syncSteps });
  engines.push(engine);
  return { engine, ex };
}

const prompt = Array.from({ length: 40 }, (_, i) => (i * 37 + 5) % 200);

describe('syncSteps', () => {
  it("'auto' (the default) runs single-stream decode on stepSync and the prompt and 8-row steps on step(), with the tokens of false", async () => {
    const off = await engineWith(false);
    const alone = await off.engine.submit(prompt, { maxTokens: 16, temperature: 0.7, seed: 5 }).done;
    const crowdOff = await Promise.all(Array.from({ length: 8 }, (_, i) => off.engine.submit(prompt.slice(i), { maxTokens: 8 }).done));
    expect(off.ex.calls.every((c) => !c.sync)).toBe(true);

    const auto = await engineWith(undefined);
    expect((await auto.engine.submit(prompt, { maxTokens: 16, temperature: 0.7, seed: 5 }).done).tokens).toEqual(alone.tokens);
    // The first one-token step runs on the JS thread (no short step timed yet); the later ones
    // too while they take <= 4 ms (the tiny model's take well under that unless the machine stalls).
    const decodes = auto.ex.calls.filter((c) => c.tokens === 1);
    expect(decodes.length).toBe(15);
    expect(decodes[0].sync).toBe(true);
    expect(auto.ex.calls.filter((c) => c.tokens > 4).every((c) => !c.sync)).toBe(true);
    auto.ex.calls.length = 0;
    const crowd = await Promise.all(Array.from({ length: 8 }, (_, i) => auto.engine.submit(prompt.slice(i), { maxTokens: 8 }).done));
    expect(crowd.map((r) => r.tokens)).toEqual(crowdOff.map((r) => r.tokens));
    expect(auto.ex.calls.filter((c) => c.tokens > 4).every((c) => !c.sync)).toBe(true);
  });

  it('true runs every step on stepSync, with the same tokens; aborts between steps free every page', async () => {
    const on = await engineWith(true);
    const off = await engineWith(false);
    const [a, b] = await Promise.all([on, off].map(({ engine }) => Promise.all([engine.submit(prompt, { maxTokens: 12 }).done, engine.submit(prompt.slice(3), { maxTokens: 20 }).done])));
    expect(a.map((r) => r.tokens)).toEqual(b.map((r) => r.tokens));
    expect(on.ex.calls.every((c) => c.sync)).toBe(true);
    const req = on.engine.submit(prompt, { maxTokens: 200 });
    const sub = req.tokens$.subscribe((t) => { if (t >= 0) sub.unsubscribe(); });
    expect((await req.done).finishReason).toBe('abort');
    await on.engine.whenIdle();
    const { pages } = on.engine.stats();
    expect(pages.free + pages.evictable).toBe(pages.total);
  });

  it('refuses a value it does not know, and true on an executor without stepSync', async () => {
    await expect(engineWith('yes' as unknown as SyncSteps)).rejects.toThrow(InvalidRequestError);
    const sim = new SimulatedExecutor({ vocabSize: 256, contextLength: 512, numPages: 16, pageSize: 16, maxBatchTokens: 64, maxSeqs: 4 });
    await expect(NanoServingEngine.create({ executor: sim, syncSteps: true })).rejects.toThrow(/syncSteps: true needs an executor with stepSync/);
  });
});
