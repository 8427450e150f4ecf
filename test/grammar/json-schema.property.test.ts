/**
 * Property: for random JSON schemas, every output of the default model validates against its
 * schema (ajv). The model writes scripture; only the grammar makes the output JSON. Strings carry
 * a maxLength and arrays a maxItems, so each output fits in the model's 512-token context (the
 * model alone would rarely close a string).
 */
import { Ajv } from 'ajv';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { NanoServingEngine, type JsonSchema } from '../../src/index.js';

let engine: NanoServingEngine;
beforeAll(async () => {
  engine = await NanoServingEngine.create({ model: 'default', threads: 1, kvCachePages: 512, maxRunning: 16 });
});
afterAll(async () => {
  await engine.close();
});

const name = fc.constantFrom('name', 'age', 'tribe', 'verse', 'count', 'ok', 'items', 'x');
const leaf: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.integer({ min: 0, max: 12 }).map((max) => ({ type: 'string', maxLength: max })),
  fc.record({ minLength: fc.integer({ min: 1, max: 3 }), extra: fc.integer({ min: 0, max: 8 }) }).map(({ minLength, extra }) => ({ type: 'string', minLength, maxLength: minLength + extra })),
  fc.record({ minimum: fc.integer({ min: -50, max: 50 }), span: fc.integer({ min: 0, max: 5000 }) }).map(({ minimum, span }) => ({ type: 'integer', minimum, maximum: minimum + span })),
  fc.constant({ type: 'boolean' }),
  fc.constant({ type: 'null' }),
  fc.uniqueArray(fc.oneof(fc.constantFrom('Judah', 'Levi', 'Dan', 'amen'), fc.integer({ min: 0, max: 9 })), { minLength: 1, maxLength: 4 }).map((values) => ({ enum: values })),
  fc.constantFrom('selah', 7, true).map((value) => ({ const: value })),
);

const schema: fc.Arbitrary<Record<string, unknown>> = fc.letrec<{ node: Record<string, unknown> }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.uniqueArray(fc.tuple(name, tie('node')), { minLength: 1, maxLength: 3, selector: ([key]) => key }).chain((entries) =>
      fc.subarray(entries.map(([key]) => key)).map((required) => ({
        type: 'object',
        properties: Object.fromEntries(entries),
        required,
        additionalProperties: false,
      })),
    ),
    fc.record({ items: tie('node'), minItems: fc.integer({ min: 0, max: 1 }), more: fc.integer({ min: 0, max: 2 }) }).map(({ items, minItems, more }) => ({ type: 'array', items, minItems, maxItems: minItems + more })),
    fc.tuple(tie('node'), tie('node')).map(([a, b]) => ({ anyOf: [a, b] })),
  ),
})).node;

const ajv = new Ajv({ strict: false });

test('every output validates against its random schema', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(schema, fc.integer({ min: 0, max: 2 ** 31 })), { minLength: 4, maxLength: 8 }), async (cases) => {
      const results = await Promise.all(
        cases.map(([s, seed]) =>
          engine.submit('And God said, ', { maxTokens: 400, temperature: 1, seed, responseFormat: { type: 'json_schema', schema: s as JsonSchema, strict: true } }).done,
        ),
      );
      if (process.env.NANO_SHOW) results.forEach((r, i) => console.log(JSON.stringify(cases[i][0]), "=>", r.text));
      results.forEach((r, i) => {
        expect(r.finishReason, `${JSON.stringify(cases[i][0])} -> ${r.text}`).toBe('stop');
        const value: unknown = JSON.parse(r.text);
        expect(ajv.validate(cases[i][0], value), `${JSON.stringify(cases[i][0])} -> ${r.text}: ${ajv.errorsText()}`).toBe(true);
      });
    }),
    { numRuns: Number(process.env.NANO_FUZZ_RUNS ?? 1) * 10, seed: Number(process.env.NANO_PROPERTY_SEED ?? 1515) },
  );
  engine.checkIntegrity();
}, 240_000);
