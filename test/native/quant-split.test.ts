/**
 * The thread split of few-row quantized products (native/src/quant_gemm.cpp through splitInRuns, native/src/tile_runs.h):
 * with at most 4 rows the 16-column tiles are cut into one contiguous run per thread, each
 * claimed from its front by its owner and from its back by the others once theirs are done.
 * Every column must be computed exactly once, with the bits of the single-threaded portable
 * path, whatever the thread count, the rows and a matrix width that leaves a partial tile.
 * (The pool behind quant.matmul does not spin, so its workers usually wake late and the
 * calling thread takes the others' runs from the back: both claim paths run.)
 */
import { describe, expect, it } from 'vitest';
import { QUANT_FORMATS } from '../../src/models/quant-formats.js';
import { quantizeValues } from '../../src/models/quantize.js';
import { loadNative } from '../../src/native/load.js';

const quant = loadNative().quant;

function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

describe('few-row products split in contiguous runs: every column once, the same bits', () => {
  for (const dtype of ['q8_0', 'q4_k', 'q6_k'] as const) {
    it(`${dtype}: m = 1..4, 2..7 threads, ${16 * 45 + 7} columns`, () => {
      const k = QUANT_FORMATS[dtype].blockElems * (dtype === 'q8_0' ? 8 : 1), n = 16 * 45 + 7;
      const values = Float32Array.from({ length: n * k }, (_, i) => Math.sin(i * 0.23) * (1 + (i % 5)));
      const blocks = quantizeValues(values, dtype);
      for (const m of [1, 2, 4]) {
        const x = Float32Array.from({ length: m * k }, (_, i) => Math.cos(i * 0.07) * (1 + (i % 3)));
        const ref = quant.matmul(dtype, blocks, n, k, x, m, 'portable', 1);
        for (const kernel of quant.kernels()) {
          for (const threads of [2, 3, 7]) {
            for (let rep = 0; rep < 3; rep++) {
              expect(firstDifference(quant.matmul(dtype, blocks, n, k, x, m, kernel, threads), ref), `${kernel}, m ${m}, ${threads} threads`).toBe(-1);
            }
          }
        }
      }
    });
  }
});
