/**
 * Reads safetensors files: an 8-byte little-endian header length, a JSON header
 * ({name: {dtype, shape, data_offsets: [begin, end]}}, offsets relative to the data
 * section), then the raw little-endian data. Each file is read once into one Buffer and
 * every tensor is a typed-array view into it (copied only when misaligned), so the
 * weights are held once. Sharded checkpoints list their files in
 * model.safetensors.index.json. Every problem is a ModelLoadError naming the file.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelLoadError } from '../errors.js';
import type { Tensor, TensorDtype } from './config.js';

/** A tensor and the file it came from (for error messages). */
export interface LoadedTensor extends Tensor {
  file: string;
}

const DTYPES: Record<string, { dtype: TensorDtype; bytes: number }> = {
  F32: { dtype: 'f32', bytes: 4 },
  F16: { dtype: 'f16', bytes: 2 },
  BF16: { dtype: 'bf16', bytes: 2 },
};
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export async function readFileOrThrow(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new ModelLoadError(`${file}: ${reason}`, file, { cause: err });
  }
}

/** Reads one .safetensors file. */
export async function readSafetensors(file: string): Promise<Map<string, LoadedTensor>> {
  return parseSafetensors(await readFileOrThrow(file), file);
}

/** model.safetensors, or the shards named by model.safetensors.index.json. */
export async function readSafetensorsDir(dir: string): Promise<Map<string, LoadedTensor>> {
  const single = join(dir, 'model.safetensors');
  const indexFile = join(dir, 'model.safetensors.index.json');
  let index: Buffer;
  try {
    index = await readFile(indexFile);
  } catch {
    return readSafetensors(single);
  }
  const weightMap = parseIndex(index, indexFile);
  const tensors = new Map<string, LoadedTensor>();
  for (const shard of new Set(Object.values(weightMap))) {
    const shardTensors = await readSafetensors(join(dir, shard));
    for (const [name, file] of Object.entries(weightMap)) {
      if (file !== shard) continue;
      const tensor = shardTensors.get(name);
      if (!tensor) throw new ModelLoadError(`${join(dir, shard)}: missing tensor ${name} (listed in ${indexFile})`, join(dir, shard));
      tensors.set(name, tensor);
    }
  }
  return tensors;
}

function parseIndex(buf: Buffer, file: string): Record<string, string> {
  let json: { weight_map?: unknown };
  try {
    json = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new ModelLoadError(`${file}: corrupt JSON (${(err as Error).message})`, file, { cause: err });
  }
  const map = json?.weight_map;
  if (!map || typeof map !== 'object' || Object.values(map).some((v) => typeof v !== 'string' || v.includes('/') || v.includes('\\'))) {
    throw new ModelLoadError(`${file}: weight_map must map tensor names to shard file names`, file);
  }
  return map as Record<string, string>;
}

/** Parses a whole file held in `buf`; the tensors view into it. */
export function parseSafetensors(buf: Buffer, file: string): Map<string, LoadedTensor> {
  const fail = (problem: string): never => {
    throw new ModelLoadError(`${file}: ${problem}`, file);
  };
  if (buf.length < 8) fail(`truncated: ${buf.length} bytes, less than the 8-byte header length`);
  const headerLen = buf.readBigUInt64LE(0);
  if (headerLen > BigInt(buf.length - 8)) fail(`header length ${headerLen} runs past the end of the file (${buf.length} bytes)`);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLen} is over ${MAX_HEADER_BYTES} bytes`);
  const dataStart = 8 + Number(headerLen);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.toString('utf8', 8, dataStart));
  } catch (err) {
    throw new ModelLoadError(`${file}: corrupt header JSON (${(err as Error).message})`, file, { cause: err });
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const dataLen = buf.length - dataStart;
  const tensors = new Map<string, LoadedTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const kind = DTYPES[String(dtype)];
    if (!kind) fail(`tensor ${name}: unknown dtype ${JSON.stringify(dtype)} (supported: F32, F16, BF16)`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor ${name}: bad shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      fail(`tensor ${name}: bad data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLen) fail(`tensor ${name}: data_offsets [${begin}, ${end}] out of range: the data section holds ${dataLen} bytes (file truncated or header corrupt)`);
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== numel * kind.bytes) fail(`tensor ${name}: ${end - begin} bytes of data for shape [${shape}] of ${dtype} (${numel * kind.bytes} expected)`);
    tensors.set(name, { dtype: kind.dtype, shape: shape as number[], data: view(buf, dataStart + begin, numel, kind.dtype), file });
  }
  return tensors;
}

/** A typed array over buf[at ..]: a view when aligned, else a copy. Assumes a little-endian host. */
function view(buf: Buffer, at: number, numel: number, dtype: TensorDtype): Float32Array | Uint16Array {
  const offset = buf.byteOffset + at;
  if (dtype === 'f32') {
    if (offset % 4 === 0) return new Float32Array(buf.buffer, offset, numel);
    return new Float32Array(new Uint8Array(buf.buffer, offset, numel * 4).slice().buffer);
  }
  if (offset % 2 === 0) return new Uint16Array(buf.buffer, offset, numel);
  return new Uint16Array(new Uint8Array(buf.buffer, offset, numel * 2).slice().buffer);
}
