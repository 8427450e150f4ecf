/** The embedding API's shape: generate() takes one params object or one per prompt; unknown keys are refused by name. */
import { describe, expect, it } from 'vitest';
import { NanoServingEngine } from '../../src/engine/engine.js';
import { InvalidRequestError } from '../../src/errors.js';
import { SimulatedExecutor } from '../../src/executor/simulated.js';
import type { SamplingParams } from '../../src/engine/sampling.js';

const create = () => NanoServingEngine.create({ executor: new SimulatedExecutor({ vocabSize: 256, numPages: 256, pageSize: 16 }) });

function errorOf(fn: () => unknown): InvalidRequestError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError);
    return error as InvalidRequestError;
  }
  throw new Error('did not throw');
}

describe('engine.generate(prompts, params)', () => {
  it('honours one params object per prompt', async () => {
    const engine = await create();
    const results = await engine.generate(['abc', 'defg', 'hi'], [{ maxTokens: 3, ignoreEos: true }, { maxTokens: 5, ignoreEos: true }, { maxTokens: 1 }]);
    expect(results.map((r) => r.outputTokens)).toEqual([3, 5, 1]);
    expect(results.map((r) => r.promptTokens)).toEqual([3, 4, 2]);
    await engine.close();
  });

  it('applies one object to every prompt', async () => {
    const engine = await create();
    const results = await engine.generate(['abc', 'defg'], { maxTokens: 4, ignoreEos: true });
    expect(results.map((r) => r.outputTokens)).toEqual([4, 4]);
    await engine.close();
  });

  it('refuses a list of the wrong length, and a bad entry, before anything runs', async () => {
    const engine = await create();
    await expect(engine.generate(['a', 'b'], [{ maxTokens: 2 }])).rejects.toThrow(/params has 1 entries for 2 prompts/);
    await expect(engine.generate(['a', 'b'], [{ maxTokens: 2 }, { maxTokens: 0 }])).rejects.toBeInstanceOf(InvalidRequestError);
    await engine.whenIdle();
    expect(engine.stats().requests.finished).toBe(0);
    await engine.close();
  });
});

describe('unknown sampling keys', () => {
  it('are an InvalidRequestError naming the key and the key meant', async () => {
    const engine = await create();
    const cases: Array<[Record<string, unknown>, string, string | undefined]> = [
      [{ max_tokens: 5 }, 'max_tokens', 'maxTokens'],
      [{ maxNewTokens: 5 }, 'maxNewTokens', 'maxTokens'],
      [{ top_p: 0.5 }, 'top_p', 'topP'],
      [{ temperature: 0, bogus: 1 }, 'bogus', undefined],
    ];
    for (const [params, key, hint] of cases) {
      const error = errorOf(() => engine.submit('abc', params as SamplingParams));
      expect(error.param).toBe(key);
      expect(error.message).toContain(`'${key}'`);
      if (hint) expect(error.message).toContain(`did you mean '${hint}'`);
    }
    await expect(engine.generate(['abc'], { max_tokens: 3 } as SamplingParams)).rejects.toThrow(/unknown sampling parameter 'max_tokens'/);
    // A known key set to undefined is fine (the server passes optional fields that way).
    expect((await engine.submit('abc', { maxTokens: 2, ignoreEos: true, topK: undefined }).done).outputTokens).toBe(2);
    await engine.close();
  });
});
