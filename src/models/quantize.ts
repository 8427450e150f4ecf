/**
 * Our quantizers: f32 rows to ggml blocks (layouts in native/src/quant_format.h). Plain and
 * deterministic: Q8_0 and Q4_0 from each block's largest magnitude; the K formats from each
 * sub-block's range (Q4_K/Q5_K: scale and minimum; Q6_K: a signed scale), the 6- or 8-bit
 * sub-block scales then quantized against one f16 super-scale. llama.cpp's quantizer searches
 * harder (lower error); the files are the same format either way.
 */
import type { QuantDtype, QuantTensor, Tensor } from './config.js';
import { QUANT_FORMATS } from './quant-formats.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half bits of a float, round to nearest even. */
export function halfBits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const e = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const exp = e - 127 + 15;
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    const half = mant >>> shift, rest = mant & ((1 << shift) - 1), mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && half & 1) ? 1 : 0));
  }
  const half = (exp << 10) | (mant >>> 13), rest = mant & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

/** The float value of half bits. */
export function halfValue(h: number): number {
  const exp = (h >> 10) & 0x1f, mant = h & 0x3ff, sign = h & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

const clamp = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);

function putHalf(out: Uint8Array, at: number, value: number): number {
  const h = halfBits(value);
  out[at] = h & 0xff;
  out[at + 1] = h >>> 8;
  return halfValue(h);
}

function blockQ8_0(x: Float32Array, at: number, out: Uint8Array, o: number): void {
  let amax = 0;
  for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[at + i]));
  const d = putHalf(out, o, amax / 127);
  const inv = d ? 1 / d : 0;
  for (let i = 0; i < 32; i++) out[o + 2 + i] = clamp(Math.round(x[at + i] * inv), -127, 127) & 0xff;
}

function blockQ4_0(x: Float32Array, at: number, out: Uint8Array, o: number): void {
  let max = 0;
  for (let i = 0; i < 32; i++) if (Math.abs(x[at + i]) > Math.abs(max)) max = x[at + i];
  const d = putHalf(out, o, max / -8);
  const inv = d ? 1 / d : 0;
  const q = (i: number): number => clamp(Math.round(x[at + i] * inv) + 8, 0, 15);
  for (let i = 0; i < 16; i++) out[o + 2 + i] = q(i) | (q(i + 16) << 4);
}

/** Q4_K (nmax 15) and Q5_K (nmax 31): w = d * sc * q - dmin * m per 32-weight sub-block. */
// Scratch of one block (the quantizers are synchronous, so one set serves every call).
const scale = new Float64Array(16), min = new Float64Array(8), sc = new Int32Array(16), mn = new Int32Array(8);
const q = new Uint8Array(256);

function blockK45(x: Float32Array, at: number, out: Uint8Array, o: number, nmax: number): void {
  for (let j = 0; j < 8; j++) {
    let lo = 0, hi = -Infinity;
    for (let i = 0; i < 32; i++) {
      const v = x[at + 32 * j + i];
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    scale[j] = (hi - lo) / nmax;
    min[j] = -lo;
  }
  let maxScale = 0, maxMin = 0;
  for (let j = 0; j < 8; j++) {
    maxScale = Math.max(maxScale, scale[j]);
    maxMin = Math.max(maxMin, min[j]);
  }
  const d = putHalf(out, o, maxScale / 63), dmin = putHalf(out, o + 2, maxMin / 63);
  for (let j = 0; j < 8; j++) {
    sc[j] = d ? clamp(Math.ceil(scale[j] / d - 1e-6), 0, 63) : 0; // rounded up: each sub-block's range stays covered
    mn[j] = dmin ? clamp(Math.round(min[j] / dmin), 0, 63) : 0;
  }
  for (let j = 0; j < 4; j++) {
    out[o + 4 + j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6);
    out[o + 8 + j] = (mn[j] & 63) | ((mn[j + 4] >> 4) << 6);
    out[o + 12 + j] = (sc[j + 4] & 0xf) | ((mn[j + 4] & 0xf) << 4);
  }
  for (let j = 0; j < 8; j++) {
    const step = d * sc[j], offset = dmin * mn[j];
    for (let i = 0; i < 32; i++) q[32 * j + i] = step ? clamp(Math.round((x[at + 32 * j + i] + offset) / step), 0, nmax) : 0;
  }
  const qs = o + (nmax === 31 ? 48 : 16);
  for (let c = 0; c < 4; c++) {
    for (let l = 0; l < 32; l++) {
      const a = q[64 * c + l], b = q[64 * c + 32 + l];
      out[qs + 32 * c + l] = (a & 0xf) | ((b & 0xf) << 4);
      if (nmax === 31) out[o + 16 + l] = (c ? out[o + 16 + l] : 0) | ((a >> 4) << (2 * c)) | ((b >> 4) << (2 * c + 1));
    }
  }
}

/** Q6_K: w = d * scale * (q - 32) per 16-weight sub-block, int8 scales. */
function blockQ6K(x: Float32Array, at: number, out: Uint8Array, o: number): void {
  for (let g = 0; g < 16; g++) {
    let max = 0;
    for (let i = 0; i < 16; i++) if (Math.abs(x[at + 16 * g + i]) > Math.abs(max)) max = x[at + 16 * g + i];
    scale[g] = max / -32;
  }
  let amax = 0;
  for (let g = 0; g < 16; g++) amax = Math.max(amax, Math.abs(scale[g]));
  const d = putHalf(out, o + 208, amax / 127);
  for (let g = 0; g < 16; g++) {
    const s = d ? clamp(Math.sign(scale[g]) * Math.ceil(Math.abs(scale[g]) / d - 1e-6), -128, 127) : 0; // magnitude rounded up: the range stays covered
    out[o + 192 + g] = s & 0xff;
    const step = d * s;
    for (let i = 0; i < 16; i++) q[16 * g + i] = step ? clamp(Math.round(x[at + 16 * g + i] / step), -32, 31) + 32 : 32;
  }
  for (let h = 0; h < 2; h++) {
    for (let l = 0; l < 32; l++) {
      const q1 = q[128 * h + l], q2 = q[128 * h + 32 + l], q3 = q[128 * h + 64 + l], q4 = q[128 * h + 96 + l];
      out[o + 64 * h + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
      out[o + 64 * h + 32 + l] = (q2 & 0xf) | ((q4 & 0xf) << 4);
      out[o + 128 + 32 * h + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
    }
  }
}

const BLOCK: Record<QuantDtype, (x: Float32Array, at: number, out: Uint8Array, o: number) => void> = {
  q8_0: blockQ8_0,
  q4_0: blockQ4_0,
  q4_k: (x, at, out, o) => blockK45(x, at, out, o, 15),
  q5_k: (x, at, out, o) => blockK45(x, at, out, o, 31),
  q6_k: blockQ6K,
};

/** Quantizes f32 values (rows of the last dimension, a multiple of the block size) into `dtype` blocks. */
export function quantizeValues(values: Float32Array, dtype: QuantDtype): Uint8Array {
  const f = QUANT_FORMATS[dtype];
  if (values.length % f.blockElems !== 0) throw new RangeError(`${dtype}: ${values.length} values is not a whole number of ${f.blockElems}-blocks`);
  const numBlocks = values.length / f.blockElems;
  const out = new Uint8Array(numBlocks * f.blockBytes);
  const block = BLOCK[dtype];
  for (let b = 0; b < numBlocks; b++) block(values, b * f.blockElems, out, b * f.blockBytes);
  return out;
}

/** A 2-D f32 tensor quantized; throws when its rows are not a multiple of the block size. */
export function quantizeTensor(t: Tensor, dtype: QuantDtype, name = 'tensor'): QuantTensor {
  if (t.dtype !== 'f32') throw new RangeError(`${name}: quantizing needs f32 values, got ${t.dtype}`);
  const cols = t.shape[t.shape.length - 1];
  if (t.shape.length !== 2 || cols % QUANT_FORMATS[dtype].blockElems !== 0) {
    throw new RangeError(`${name}: shape [${t.shape}] has rows that are not a multiple of ${QUANT_FORMATS[dtype].blockElems} (${dtype})`);
  }
  return { dtype, shape: t.shape, data: quantizeValues(t.data as Float32Array, dtype) };
}
