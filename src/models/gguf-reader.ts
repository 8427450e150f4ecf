/**
 * Reads a GGUF file (versions 2 and 3, little-endian): the magic "GGUF", a version, the
 * tensor and metadata counts, the metadata key/values, the tensor infos, then the
 * tensor data from the first `general.alignment` boundary (32 by default) after them.
 * The whole file is one Buffer over a memory mapping of it (native mapFile): nothing is read
 * up front, pages come in as the parser and the executor touch them, and the executor drops
 * the pages of each tensor once it has copied it, so loading a model peaks at about the file
 * size. A tensor is described by its absolute offset and byte length in it. Every count, string length, array length, offset and extent is
 * checked against the file size, and every problem is a ModelLoadError naming the file.
 */
import { statSync } from 'node:fs';
import { constants } from 'node:buffer';
import { ModelLoadError } from '../errors.js';
import { loadNative } from '../native/load.js';

/** A metadata value: numbers (u64/i64 past 2^53 stay bigint), booleans, strings, arrays. */
export type GgufValue = number | bigint | boolean | string | GgufValue[];

/** ggml tensor types this reader can size: elements per block and bytes per block. */
export const GGML_TYPES: Readonly<Record<number, { name: string; blockSize: number; blockBytes: number }>> = {
  0: { name: 'F32', blockSize: 1, blockBytes: 4 },
  1: { name: 'F16', blockSize: 1, blockBytes: 2 },
  2: { name: 'Q4_0', blockSize: 32, blockBytes: 18 },
  3: { name: 'Q4_1', blockSize: 32, blockBytes: 20 },
  6: { name: 'Q5_0', blockSize: 32, blockBytes: 22 },
  7: { name: 'Q5_1', blockSize: 32, blockBytes: 24 },
  8: { name: 'Q8_0', blockSize: 32, blockBytes: 34 },
  9: { name: 'Q8_1', blockSize: 32, blockBytes: 36 },
  10: { name: 'Q2_K', blockSize: 256, blockBytes: 84 },
  11: { name: 'Q3_K', blockSize: 256, blockBytes: 110 },
  12: { name: 'Q4_K', blockSize: 256, blockBytes: 144 },
  13: { name: 'Q5_K', blockSize: 256, blockBytes: 176 },
  14: { name: 'Q6_K', blockSize: 256, blockBytes: 210 },
  15: { name: 'Q8_K', blockSize: 256, blockBytes: 292 },
  24: { name: 'I8', blockSize: 1, blockBytes: 1 },
  25: { name: 'I16', blockSize: 1, blockBytes: 2 },
  26: { name: 'I32', blockSize: 1, blockBytes: 4 },
  27: { name: 'I64', blockSize: 1, blockBytes: 8 },
  28: { name: 'F64', blockSize: 1, blockBytes: 8 },
  30: { name: 'BF16', blockSize: 1, blockBytes: 2 },
};

export interface GgufTensorInfo {
  name: string;
  /** ggml type id (GGML_TYPES) and its name. */
  type: number;
  typeName: string;
  /** Row-major shape, outermost first: GGUF's dims reversed ([out, in] for a linear weight). */
  shape: number[];
  /** Absolute byte offset of the data in GgufFile.buf, and its length. */
  offset: number;
  byteLength: number;
}

export interface GgufFile {
  file: string;
  version: number;
  alignment: number;
  metadata: Map<string, GgufValue>;
  tensors: Map<string, GgufTensorInfo>;
  buf: Buffer;
}

const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const MAX_DIMS = 4;
const MAX_ARRAY_DEPTH = 4;
/** Smallest encoding of a metadata value of each type (an array: element type + count). */
const VALUE_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: 8, 9: 12, 10: 8, 11: 8, 12: 8 };

export async function readGguf(file: string): Promise<GgufFile> {
  return parseGguf(readWhole(file), file);
}

/** The whole file as one Buffer over a private mapping of it. */
function readWhole(file: string): Buffer {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new ModelLoadError(`${file}: ${reason}`, file, { cause: err });
  }
  if (size > constants.MAX_LENGTH) throw new ModelLoadError(`${file}: ${size} bytes is more than one Buffer holds here (${constants.MAX_LENGTH})`, file);
  try {
    return Buffer.from(loadNative().mapFile(file));
  } catch (err) {
    throw new ModelLoadError(`${file}: ${(err as Error).message}`, file, { cause: err });
  }
}

/** Parses a whole GGUF file held in `buf`. */
export function parseGguf(buf: Buffer, file: string): GgufFile {
  const r = new Cursor(buf, file);
  if (buf.length < 4 || buf.readUInt32LE(0) !== MAGIC) {
    r.fail(`bad magic ${JSON.stringify(buf.subarray(0, 4).toString('latin1'))}: not a GGUF file`);
  }
  r.pos = 4;
  const version = r.u32('version');
  if (version !== 2 && version !== 3) {
    const hint = version === 1 ? ' (GGUF v1 is not supported; convert the file again)' : version > 0xffff ? ' (a big-endian file?)' : '';
    r.fail(`unknown GGUF version ${version}${hint} (supported: 2, 3)`);
  }
  const numTensors = r.count('tensor count', 8 + 4 + 8 + 4 + 8);
  const numKv = r.count('metadata count', 8 + 4 + 1);
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < numKv; i++) {
    const key = r.string(`metadata key ${i}`);
    if (metadata.has(key)) r.fail(`duplicate metadata key ${JSON.stringify(key)}`);
    metadata.set(key, r.value(r.u32(`type of ${key}`), key, 0));
  }
  const alignment = alignmentOf(metadata, r);
  const infos: Array<Omit<GgufTensorInfo, 'offset'> & { relOffset: bigint }> = [];
  const seen = new Set<string>();
  for (let i = 0; i < numTensors; i++) {
    const info = r.tensorInfo(i);
    if (seen.has(info.name)) r.fail(`duplicate tensor ${JSON.stringify(info.name)}`);
    seen.add(info.name);
    infos.push(info);
  }
  const dataStart = Math.ceil(r.pos / alignment) * alignment;
  const dataLen = buf.length - dataStart;
  const tensors = new Map<string, GgufTensorInfo>();
  for (const { relOffset, ...info } of infos) {
    if (relOffset % BigInt(alignment) !== 0n) r.fail(`tensor ${info.name}: offset ${relOffset} is not a multiple of the alignment ${alignment}`);
    if (relOffset + BigInt(info.byteLength) > BigInt(Math.max(dataLen, 0))) {
      r.fail(`truncated or corrupt: tensor ${info.name} (${info.byteLength} bytes at data offset ${relOffset}) runs past the end of the file (data section holds ${Math.max(dataLen, 0)} bytes)`);
    }
    tensors.set(info.name, { ...info, offset: dataStart + Number(relOffset) });
  }
  return { file, version, alignment, metadata, tensors, buf };
}

function alignmentOf(metadata: Map<string, GgufValue>, r: Cursor): number {
  const value = metadata.get('general.alignment');
  if (value === undefined) return 32;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0 || (value & (value - 1)) !== 0) {
    r.fail(`general.alignment must be a power of two, got ${String(value)}`);
  }
  return value as number;
}

/** A bounds-checked little-endian reader over the file. */
class Cursor {
  pos = 0;
  constructor(private readonly buf: Buffer, private readonly file: string) {}

  fail(problem: string): never {
    throw new ModelLoadError(`${this.file}: ${problem}`, this.file);
  }

  /** Checks that `n` more bytes exist for `what`. */
  need(n: number | bigint, what: string): void {
    if (BigInt(this.pos) + BigInt(n) > BigInt(this.buf.length)) {
      this.fail(`truncated: ${what} (${n} bytes at offset ${this.pos}) runs past the end of the file (${this.buf.length} bytes)`);
    }
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(what: string): bigint {
    this.need(8, what);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A u64 count of items of at least `minBytes` each, checked against the bytes left. */
  count(what: string, minBytes: number): number {
    const n = this.u64(what);
    const left = BigInt(this.buf.length - this.pos);
    if (n * BigInt(minBytes) > left) this.fail(`truncated or corrupt: ${what} ${n} needs at least ${n * BigInt(minBytes)} bytes, the file has ${left} left`);
    return Number(n);
  }

  string(what: string): string {
    const len = this.u64(`length of ${what}`);
    this.need(len, what);
    const s = this.buf.toString('utf8', this.pos, this.pos + Number(len));
    this.pos += Number(len);
    return s;
  }

  value(type: number, key: string, depth: number): GgufValue {
    const b = this.buf;
    const at = this.pos;
    const fixed = (n: number, read: () => GgufValue): GgufValue => {
      this.need(n, `value of ${key}`);
      this.pos += n;
      return read();
    };
    switch (type) {
      case 0: return fixed(1, () => b.readUInt8(at));
      case 1: return fixed(1, () => b.readInt8(at));
      case 2: return fixed(2, () => b.readUInt16LE(at));
      case 3: return fixed(2, () => b.readInt16LE(at));
      case 4: return fixed(4, () => b.readUInt32LE(at));
      case 5: return fixed(4, () => b.readInt32LE(at));
      case 6: return fixed(4, () => b.readFloatLE(at));
      case 7: return fixed(1, () => {
        const v = b.readUInt8(at);
        if (v > 1) this.fail(`corrupt metadata: bool ${key} holds ${v}`);
        return v === 1;
      });
      case 8: return this.string(`value of ${key}`);
      case 9: return this.array(key, depth);
      case 10: return fixed(8, () => safe(b.readBigUInt64LE(at)));
      case 11: return fixed(8, () => safe(b.readBigInt64LE(at)));
      case 12: return fixed(8, () => b.readDoubleLE(at));
      default: return this.fail(`corrupt metadata: ${key} has unknown value type ${type}`);
    }
  }

  private array(key: string, depth: number): GgufValue[] {
    if (depth >= MAX_ARRAY_DEPTH) this.fail(`corrupt metadata: ${key} nests arrays deeper than ${MAX_ARRAY_DEPTH}`);
    const type = this.u32(`element type of ${key}`);
    const minBytes = VALUE_BYTES[type];
    if (minBytes === undefined) this.fail(`corrupt metadata: array ${key} has unknown element type ${type}`);
    const n = this.count(`array length of ${key}`, minBytes);
    const out = new Array<GgufValue>(n);
    for (let i = 0; i < n; i++) out[i] = this.value(type, key, depth + 1);
    return out;
  }

  tensorInfo(i: number): Omit<GgufTensorInfo, 'offset'> & { relOffset: bigint } {
    const name = this.string(`name of tensor ${i}`);
    const numDims = this.u32(`dimension count of tensor ${name}`);
    if (numDims < 1 || numDims > MAX_DIMS) this.fail(`tensor ${name}: ${numDims} dimensions (1 to ${MAX_DIMS} allowed)`);
    const dims: number[] = [];
    let numel = 1n;
    for (let d = 0; d < numDims; d++) {
      const dim = this.u64(`dimension ${d} of tensor ${name}`);
      numel *= dim;
      if (dim === 0n || numel > BigInt(this.buf.length) * 256n) this.fail(`tensor ${name}: corrupt dimension ${dim}`);
      dims.push(Number(dim));
    }
    const type = this.u32(`type of tensor ${name}`);
    const kind = GGML_TYPES[type];
    if (!kind) this.fail(`tensor ${name}: unknown tensor type ${type}`);
    if (dims[0] % kind.blockSize !== 0) this.fail(`tensor ${name}: row length ${dims[0]} is not a multiple of ${kind.name}'s block of ${kind.blockSize}`);
    const byteLength = (numel / BigInt(kind.blockSize)) * BigInt(kind.blockBytes);
    if (byteLength > BigInt(this.buf.length)) this.fail(`tensor ${name}: ${byteLength} bytes of data cannot fit in a file of ${this.buf.length} bytes`);
    const relOffset = this.u64(`offset of tensor ${name}`);
    return { name, type, typeName: kind.name, shape: dims.reverse(), byteLength: Number(byteLength), relOffset };
  }
}

function safe(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
}
