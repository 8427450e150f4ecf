/**
 * One request's sampling parameters must never fail the requests batched with it. Values
 * that pass a check in float64 but overflow or vanish in the executor's float32 / int32
 * arrays (temperature 1e308 -> Infinity, topP 1e-300 -> 0, topK 2^31 -> negative) used to
 * be accepted at submit, then made the native step reject, failing every bystander.
 * Each is now refused at submit with a typed error, or served.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidRequestError, NanoServingEngine, type SamplingParams } from '../../src/index.js';

let engine: NanoServingEngine;
beforeAll(async () => {
  engine = await NanoServingEngine.create({ model: 'tiny', kvCachePages: 64, pageSize: 8, threads: 1 });
});
afterAll(async () => {
  await engine.close();
});

const EXTREMES: SamplingParams[] = [
  { temperature: 1e308 },
  { temperature: 3.5e38, topK: 5 },
  { temperature: 1e-310 },
  { topP: 1e-300 },
  { topP: 1e-46 },
  { minP: 1e-320 },
  { repetitionPenalty: 1e308 },
  { repetitionPenalty: 1e-300 },
  { topK: 2 ** 31 },
  { topK: 1e15 },
  { topK: 2 ** 31 - 1 },
  { seed: Number.MAX_SAFE_INTEGER },
  { presencePenalty: -2, frequencyPenalty: 2, repetitionPenalty: 3.4e38 },
];

describe('extreme sampling parameters are refused at submit or served, never a failed batch', () => {
  for (const params of EXTREMES) {
    it(JSON.stringify(params), async () => {
      const bystanders = Array.from({ length: 3 }, (_, i) => engine.submit(`bystander ${i}`, { maxTokens: 6 }));
      let outcome: string;
      try {
        const result = await engine.submit('hello there', { maxTokens: 6, ...params }).done;
        outcome = result.finishReason;
        expect(result.outputTokens).toBeGreaterThan(0);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidRequestError);
        outcome = 'refused';
      }
      expect(['length', 'stop', 'refused']).toContain(outcome);
      for (const result of await Promise.all(bystanders.map((b) => b.done))) expect(result.finishReason).toBe('length');
      expect(engine.stats().requests.failed).toBe(0);
    });
  }
});
