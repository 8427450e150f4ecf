import { defineConfig } from 'vitest/config';

/**
 * Tests split by what they need (npm test runs all three; --project picks one):
 *   unit    no addon: scheduler, pages, cache, machines, engine and HTTP server on the simulator, loaders' pure parts
 *           (run with NANO_SERVING_ADDON pointing nowhere, so a unit test that loads the addon fails)
 *   native  the built addon (npm run build:native): forward pass, engine end to end, server on the real model, CLI
 *   slow    soaks, fuzzers, llama.cpp comparisons, benchmark smoke runs (bounded by counts)
 */
const UNIT = [
  'test/unit/**/*.test.ts',
  'test/server/**/*.sim.test.ts',
  'test/reference/**/*.test.ts',
  'test/models/{hf-loader,sentencepiece,tokenizer}.test.ts',
  'test/reliability/{stream-reentrancy,loader-bugs}.test.ts',
];
const SLOW = [
  'test/reliability/{chaos-sim,chaos-native,http-fuzz,loader-fuzz,asan-guard}.test.ts',
  'test/models/llamacpp.test.ts',
  'test/bench/**/*.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT, env: { NANO_SERVING_ADDON: 'no-addon-in-unit-tests.node' } } },
      { extends: true, test: { name: 'native', include: ['test/**/*.test.ts'], exclude: [...UNIT, ...SLOW] } },
      { extends: true, test: { name: 'slow', include: SLOW } },
    ],
  },
});
