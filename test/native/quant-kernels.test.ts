/**
 * The quantized formats' native code against independent references:
 *   - dequantization of every format, block by block, bit for bit against the plain-TS
 *     decoder (test/reference/dequant.ts): random blocks (subnormal, zero and negative f16
 *     scales included), every block of our quantizer's output, and every block of the
 *     llama-quantize fixtures;
 *   - every kernel path this CPU has (portable, avx2, avx-vnni, avx512-vnni) gives the same
 *     bits, for any number of rows and threads (batch invariance), and matches a float64
 *     dot product of the dequantized weights within the activation quantization's error.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { QuantDtype } from '../../src/models/config.js';
import { loadGgufModel } from '../../src/models/gguf-loader.js';
import { isQuantDtype, QUANT_DTYPES, QUANT_FORMATS } from '../../src/models/quant-formats.js';
import { quantizeValues } from '../../src/models/quantize.js';
import { loadNative } from '../../src/native/load.js';
import { dequantize } from '../reference/dequant.js';
import { seeded } from '../property-seed.js';

const quant = loadNative().quant;
const FIXTURES = join(import.meta.dirname, '..', 'models', 'fixtures', 'quant');

/** Seeded random blocks with a chosen f16 scale at each scale slot. */
function randomBlocks(dtype: QuantDtype, numBlocks: number, seed: number, halves: number[]): Uint8Array {
  const f = QUANT_FORMATS[dtype];
  const out = new Uint8Array(numBlocks * f.blockBytes);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  const slots = dtype === 'q6_k' ? [208] : dtype === 'q4_k' || dtype === 'q5_k' ? [0, 2] : [0];
  for (let b = 0; b < numBlocks; b++) {
    for (const [j, at] of slots.entries()) {
      const h = halves[(b + j) % halves.length];
      out[b * f.blockBytes + at] = h & 0xff;
      out[b * f.blockBytes + at + 1] = h >>> 8;
    }
  }
  return out;
}

/** Blocks whose every weight has the format's largest magnitude, scales f16 1.0 (Q6_K's int8 scales -1). */
function saturatedBlocks(dtype: QuantDtype, numBlocks: number): Uint8Array {
  const f = QUANT_FORMATS[dtype];
  const out = new Uint8Array(numBlocks * f.blockBytes).fill(dtype === 'q8_0' ? 0x80 : 0xff);
  const slots = dtype === 'q6_k' ? [208] : dtype === 'q4_k' || dtype === 'q5_k' ? [0, 2] : [0];
  for (let b = 0; b < numBlocks; b++) for (const at of slots) out.set([0x00, 0x3c], b * f.blockBytes + at);
  return out;
}

/** Bitwise equality of two Float32Arrays (NaN = NaN); the first differing index, or -1. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return ua.length === ub.length ? -1 : ua.length;
}

function expectSameDequant(dtype: QuantDtype, bytes: Uint8Array, rows: number, k: number, what: string): void {
  const native = quant.dequantize(dtype, bytes, rows, k);
  const ref = dequantize(dtype, bytes);
  const at = firstDifference(native, ref);
  const block = Math.floor(at / QUANT_FORMATS[dtype].blockElems);
  expect(at, `${what}: ${dtype} weight ${at} (block ${block}) native ${native[at]} vs reference ${ref[at]}`).toBe(-1);
}

describe('dequantization, block by block, against the TypeScript decoder', () => {
  // f16 scales: ordinary, tiny normal, subnormal, zero, negative, large.
  const HALVES = [0x2e66, 0x0400, 0x0001, 0x03ff, 0x0000, 0xae66, 0x5bff, 0x3c00];
  for (const dtype of QUANT_DTYPES) {
    it(`${dtype}: random blocks`, () => {
      const k = QUANT_FORMATS[dtype].blockElems * 4;
      expectSameDequant(dtype, randomBlocks(dtype, 64 * 4, 7 + dtype.length, HALVES), 64, k, 'random');
    });
    it(`${dtype}: our quantizer's blocks of random values`, () => {
      fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.float({ min: Math.fround(1e-3), max: 100, noNaN: true }), fc.integer(), (numBlocks, scale, seed) => {
        const n = numBlocks * QUANT_FORMATS[dtype].blockElems;
        let s = seed >>> 0;
        const values = Float32Array.from({ length: n }, () => {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          return ((s >>> 8) / 2 ** 24 - 0.5) * scale;
        });
        const bytes = quantizeValues(values, dtype);
        expectSameDequant(dtype, bytes, 1, n, 'quantizer');
        // Our quantizer's error stays within the format's step, plus what an f16 super-scale in the
        // subnormal range (below 6.1e-5: small blocks) loses: half its 2^-24 step, times sc * q up to 4096.
        const back = dequantize(dtype, bytes);
        const bits = dtype === 'q8_0' ? 8 : dtype === 'q6_k' ? 6 : dtype === 'q5_k' ? 5 : 4;
        const tolerance = (scale / 2 ** (bits - 1)) * 1.5 + 2 ** -25 * 4096;
        for (let i = 0; i < n; i++) expect(Math.abs(back[i] - values[i])).toBeLessThanOrEqual(tolerance);
      }), { numRuns: Number(process.env.QUANT_RUNS ?? 40), ...seeded(69) });
    });
  }
  it('every quantized tensor of the llama-quantize fixtures', async () => {
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.gguf'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    const seen = new Set<string>();
    for (const file of files) {
      const model = await loadGgufModel(join(FIXTURES, file));
      for (const [name, t] of Object.entries(model.tensors)) {
        if (!isQuantDtype(t.dtype)) continue;
        seen.add(t.dtype);
        expectSameDequant(t.dtype, t.data as Uint8Array, t.shape[0], t.shape[1], `${file} ${name}`);
      }
    }
    expect([...seen].sort()).toEqual([...QUANT_DTYPES].sort());
  });
});

describe('kernels: every path gives the same bits, and the right values', () => {
  const kernels = quant.kernels();
  it('this CPU runs the portable path and at least one SIMD path (x86-64 with AVX2)', () => {
    expect(kernels[0]).toBe('portable');
    if (process.arch === 'x64') expect(kernels.length).toBeGreaterThan(1);
    console.info(`quantized kernels here: ${kernels.join(', ')}`);
  });
  for (const dtype of QUANT_DTYPES) {
    it(`${dtype}: ${kernels.join(' = ')}, whatever the rows and threads`, () => {
      const f = QUANT_FORMATS[dtype];
      const k = f.blockElems * (dtype.endsWith('_k') ? 3 : 10), n = 37, m = 11;
      const values = Float32Array.from({ length: n * k }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)));
      const blocks = quantizeValues(values, dtype);
      const x = Float32Array.from({ length: m * k }, (_, i) => Math.cos(i * 0.11) * (i % 5 === 0 ? 3 : 0.5));
      const ref = quant.matmul(dtype, blocks, n, k, x, m, 'portable', 1);
      for (const kernel of kernels) {
        for (const threads of [1, 3]) {
          expect(firstDifference(quant.matmul(dtype, blocks, n, k, x, m, kernel, threads), ref), `${kernel}, ${threads} threads`).toBe(-1);
        }
        for (const row of [0, 4, m - 1]) {
          const one = quant.matmul(dtype, blocks, n, k, x.subarray(row * k, (row + 1) * k), 1, kernel, 2);
          expect(firstDifference(one, ref.subarray(row * n, (row + 1) * n)), `${kernel}, row ${row} alone`).toBe(-1);
        }
      }
      // Extremes: raw random blocks (every nibble and 6-bit value, Q8_0's -128) times rows whose
      // quants are all +-127 (equal magnitudes), where int16 pair sums come closest to overflowing;
      // 21 columns leave a partly padded 8-column group.
      const raw = randomBlocks(dtype, 21 * (k / f.blockElems), 99, [0x2e66, 0xae66, 0x3c00]);
      const signs = Float32Array.from({ length: 5 * k }, (_, i) => ((i * 2654435761) >>> 31 ? 1 : -1) * (i < k ? 1 : 2));
      const rawRef = quant.matmul(dtype, raw, 21, k, signs, 5, 'portable', 1);
      for (const kernel of kernels) expect(firstDifference(quant.matmul(dtype, raw, 21, k, signs, 5, kernel, 2), rawRef), `${kernel}, extremes`).toBe(-1);
      // Every weight at its largest magnitude (Q8_0 -128, nibbles 15, Q5_K 31, Q6_K 63, 6-bit
      // scales and mins 63) times rows whose quants are all +127 or all -127: the int16 runs of
      // the AVX2 kernels at their bounds (a run one step longer would overflow).
      const full = saturatedBlocks(dtype, 21 * (k / f.blockElems));
      // Six rows (all +127, all -127, alternating; twice): a 4-row micro-tile and single rows.
      const flat = Float32Array.from({ length: 6 * k }, (_, j) => {
        const row = Math.floor(j / k) % 3, i = j % k;
        return row === 0 ? 1 : row === 1 ? -1 : i % 2 ? 3 : -3;
      });
      const fullRef = quant.matmul(dtype, full, 21, k, flat, 6, 'portable', 1);
      for (const kernel of kernels) expect(firstDifference(quant.matmul(dtype, full, 21, k, flat, 6, kernel, 1), fullRef), `${kernel}, saturated`).toBe(-1);
      // Activation rows the SIMD quantizers must round as the scalar one does: zeros, values on
      // exact half steps (round to even), one outlier beside tiny values, a largest |x| that is
      // negative and tied with a positive one, subnormals.
      const edge = new Float32Array(5 * k);
      for (let i = 0; i < k; i++) {
        edge[k + i] = i % 32 === 31 ? 127 : (i % 254) - 127 + 0.5; // exact halves at amax 127
        edge[2 * k + i] = i % 97 === 0 ? 1e30 : 1e-30 * (i % 3);
        edge[3 * k + i] = i % 5 === 0 ? -2 : i % 7 === 0 ? 2 : Math.sin(i);
        edge[4 * k + i] = 1e-40 * ((i % 11) - 5);
      }
      const edgeRef = quant.matmul(dtype, blocks, n, k, edge, 5, 'portable', 1);
      for (const kernel of kernels) expect(firstDifference(quant.matmul(dtype, blocks, n, k, edge, 5, kernel, 2), edgeRef), `${kernel}, edge rows`).toBe(-1);
      const w = dequantize(dtype, blocks);
      for (let r = 0; r < m; r++) {
        for (let c = 0; c < n; c++) {
          let exact = 0, scale = 0;
          for (let i = 0; i < k; i++) {
            exact += w[c * k + i] * x[r * k + i];
            scale += Math.abs(w[c * k + i] * x[r * k + i]);
          }
          expect(Math.abs(ref[r * n + c] - exact)).toBeLessThanOrEqual(0.02 * scale + 1e-6);
        }
      }
    });
  }
});
