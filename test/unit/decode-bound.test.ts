/** The single-stream decode bench's accounting (bench/decode-bound.ts): bytes per token and per-pass shares of the bound. */
import { describe, expect, it } from 'vitest';
import { passShares, shareCell, stepBytes } from '../../bench/decode-bound.js';

describe('bytes a decode step reads', () => {
  it('weights less the embedding, one embedding row, and K/V at the mean context of positions 0..steps-1 plus the entry written', () => {
    // 64 steps read 1, 2, ..., 64 positions: 32.5 on average.
    const b = stepBytes({ weightBytes: 1000, embeddingBytes: 200, embeddingRowBytes: 2, kvBytesPerPosition: 10, steps: 64 });
    expect(b).toEqual({ weights: 800, embeddingRow: 2, kvRead: 325, kvWrite: 10, total: 1137 });
  });

  it('a tied quantized embedding (the LM head) is left in whole; one step reads one position', () => {
    expect(stepBytes({ weightBytes: 500, embeddingBytes: 0, embeddingRowBytes: 4, kvBytesPerPosition: 8, steps: 1 }).total).toBe(500 + 4 + 8 + 8);
  });

  it('refuses inputs that cannot be right', () => {
    expect(() => stepBytes({ weightBytes: 10, embeddingBytes: 20, embeddingRowBytes: 1, kvBytesPerPosition: 0, steps: 1 })).toThrow(RangeError);
    expect(() => stepBytes({ weightBytes: 10, embeddingBytes: 0, embeddingRowBytes: 1, kvBytesPerPosition: 0, steps: 0 })).toThrow(RangeError);
  });
});

describe('shares of the bound measured beside each pass', () => {
  it('each pass over the higher of the probes just before and just after it', () => {
    // 1e9 bytes per token: tok/s is GB/s.
    const s = passShares([40, 30], 1e9, [50, 60], [80, 40]);
    expect(s).toEqual([0.5, 0.5]);
    expect(() => passShares([1, 2], 1, [1], [1, 1])).toThrow(RangeError);
  });

  it('prints the median and the range', () => {
    expect(shareCell([0.5, 0.9, 0.62])).toBe('62 % (50-90)');
    expect(shareCell([])).toBe('-');
  });
});
