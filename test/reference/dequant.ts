/**
 * An independent plain-TypeScript decoder of the ggml block formats, written from the
 * format description element by element (weight i -> its bits), not block-vectorized as
 * the native decoder is. Every float step is rounded to float32 in ggml's order
 * (Math.fround of a double op is the correctly rounded float op), so the values must match
 * the native dequantization bit for bit.
 */
import type { QuantDtype } from '../../src/models/config.js';

const fr = Math.fround;

function half(bytes: Uint8Array, at: number): number {
  const h = bytes[at] | (bytes[at + 1] << 8);
  const exp = (h >> 10) & 0x1f, mant = h & 0x3ff, sign = h & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

const int8 = (b: number): number => (b & 0x80 ? b - 256 : b);

/** Q4_K / Q5_K: 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes at `at`. */
function scaleMinK(b: Uint8Array, at: number, j: number): [number, number] {
  if (j < 4) return [b[at + j] & 63, b[at + j + 4] & 63];
  const low = b[at + j + 4];
  return [(low & 0x0f) | ((b[at + j - 4] >> 6) << 4), (low >> 4) | ((b[at + j] >> 6) << 4)];
}

/** Weight i (0..255) of the K-block at `o`: Q4_K / Q5_K. */
function weightK45(b: Uint8Array, o: number, i: number, five: boolean): number {
  const chunk = i >> 6, inChunk = i & 63, l = inChunk & 31, upper = inChunk >= 32;
  const sub = 2 * chunk + (upper ? 1 : 0);
  const qsAt = o + (five ? 48 : 16) + 32 * chunk + l;
  let q = upper ? b[qsAt] >> 4 : b[qsAt] & 0x0f;
  if (five && (b[o + 16 + l] >> sub) & 1) q += 16;
  const [sc, m] = scaleMinK(b, o + 4, sub);
  return fr(fr(fr(half(b, o) * sc) * q) - fr(half(b, o + 2) * m));
}

/** Weight i (0..255) of the Q6_K block at `o`. */
function weightQ6K(b: Uint8Array, o: number, i: number): number {
  const h = i >> 7, inHalf = i & 127, quarter = inHalf >> 5, l = inHalf & 31;
  const ql = b[o + 64 * h + (quarter & 1 ? 32 : 0) + l];
  const low = quarter < 2 ? ql & 0x0f : ql >> 4;
  const high = (b[o + 128 + 32 * h + l] >> (2 * quarter)) & 3;
  const q = (low | (high << 4)) - 32;
  const sc = int8(b[o + 192 + 8 * h + (l >> 4) + 2 * quarter]);
  return fr(fr(half(b, o + 208) * sc) * q);
}

const FORMAT: Record<QuantDtype, { elems: number; bytes: number; weight: (b: Uint8Array, o: number, i: number) => number }> = {
  q8_0: { elems: 32, bytes: 34, weight: (b, o, i) => fr(int8(b[o + 2 + i]) * half(b, o)) },
  q4_0: { elems: 32, bytes: 18, weight: (b, o, i) => fr(((i < 16 ? b[o + 2 + i] & 0x0f : b[o + 2 + i - 16] >> 4) - 8) * half(b, o)) },
  q4_k: { elems: 256, bytes: 144, weight: (b, o, i) => weightK45(b, o, i, false) },
  q5_k: { elems: 256, bytes: 176, weight: (b, o, i) => weightK45(b, o, i, true) },
  q6_k: { elems: 256, bytes: 210, weight: weightQ6K },
};

export function blockShape(dtype: QuantDtype): { elems: number; bytes: number } {
  return FORMAT[dtype];
}

/** All weights of `bytes` (whole blocks of `dtype`) as float32 values. */
export function dequantize(dtype: QuantDtype, bytes: Uint8Array): Float32Array {
  const f = FORMAT[dtype];
  const numBlocks = bytes.length / f.bytes;
  const out = new Float32Array(numBlocks * f.elems);
  for (let blk = 0; blk < numBlocks; blk++) {
    for (let i = 0; i < f.elems; i++) out[blk * f.elems + i] = f.weight(bytes, blk * f.bytes, i);
  }
  return out;
}
