/**
 * Writes a .safetensors file: an 8-byte little-endian header length, the JSON header
 * (padded with spaces to 8 bytes so the data section stays aligned), then each tensor's
 * little-endian bytes in order. Tensors are written straight from their typed arrays,
 * one at a time, so writing never holds a second copy of the weights.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** F32 -> Float32Array; F16 and BF16 -> Uint16Array of the raw bits. */
  data: Float32Array | Uint16Array;
}

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };

export function writeSafetensors(file: string, entries: SafetensorsEntry[], metadata: Record<string, string> = { format: 'pt' }): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const e of entries) {
    const numel = e.shape.reduce((a, b) => a * b, 1);
    const bytes = numel * BYTES[e.dtype];
    if (e.data.byteLength !== bytes) throw new RangeError(`tensor ${e.name}: ${e.data.byteLength} bytes of data for shape [${e.shape}] of ${e.dtype} (${bytes} expected)`);
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, length);
    writeSync(fd, json);
    for (const e of entries) writeSync(fd, new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength));
  } finally {
    closeSync(fd);
  }
}

/** bf16 bits of f32 values: the upper half, rounded to nearest even (NaN stays NaN). */
export function f32ToBf16(data: Float32Array): Uint16Array {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const x = bits[i];
    if ((x & 0x7fffffff) > 0x7f800000) out[i] = (x >>> 16) | 0x40;
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}
