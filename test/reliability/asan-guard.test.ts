/**
 * Under npm run test:asan (NANO_ASAN=1): proves the worker really runs the sanitized addon
 * with the ASan runtime loaded, so a clean run means something. Skipped otherwise.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NativeExecutor } from '../../src/executor/native.js';
import { presetConfig } from '../../src/models/presets.js';
import { syntheticTensors } from '../../src/models/synthetic.js';

describe.runIf(process.env.NANO_ASAN === '1')('sanitizer run', () => {
  it('this worker has the ASan runtime and the build-asan addon loaded', () => {
    const config = presetConfig('tiny');
    NativeExecutor.create({ config, tensors: syntheticTensors(config, 0), numPages: 4, pageSize: 4, numThreads: 1, maxBatchTokens: 8, maxSeqs: 1 }).close();
    const maps = readFileSync('/proc/self/maps', 'utf8');
    expect(process.env.NANO_SERVING_ADDON).toMatch(/build-asan/);
    expect(maps).toMatch(/libasan\.so/);
    expect(maps).toMatch(/build-asan\/Release\/nano_serving\.node/);
  });
});
