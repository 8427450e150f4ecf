/**
 * Loading a quantized GGUF file costs about the file, not twice it: the file is a memory
 * mapping (native mapFile), and the executor drops the pages of each tensor once it has copied
 * (or interleaved) it. Measured in this process: the peak resident set since a reset of the
 * kernel's high-water mark (/proc/self/clear_refs), over the resident set before the load.
 * Reading the file into a Buffer and copying it, as before, peaks at twice the file or more.
 */
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NativeExecutor } from '../../src/executor/native.js';
import type { ModelConfig, TensorMap } from '../../src/models/config.js';
import { writeGguf } from '../../src/models/gguf.js';
import { loadGgufModel } from '../../src/models/gguf-loader.js';
import { expectedShapes } from '../../src/models/hf.js';

const dir = mkdtempSync(join(tmpdir(), 'quant-memory-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1048576;
const config: ModelConfig = {
  family: 'llama', vocabSize: 4096, hiddenSize: 512, numLayers: 16, numHeads: 8, numKvHeads: 8, headDim: 64,
  intermediateSize: 1536, contextLength: 256, normEps: 1e-5, ropeTheta: 10000, ropeNeox: false, tieEmbeddings: false, qkvBias: false,
};

/**
 * Random Q8_0 blocks (scales 2^-7) for every matrix, ones for the norms: about 60 MiB of file
 * from one buffer per shape (4 MiB), so the test's own allocations do not blur the measure.
 */
function writeModel(path: string): void {
  const tensors: TensorMap = {};
  const byShape = new Map<string, Uint8Array>();
  for (const [name, shape] of expectedShapes(config)) {
    if (shape.length === 1) {
      tensors[name] = { dtype: 'f32', shape, data: new Float32Array(shape[0]).fill(1) };
      continue;
    }
    let blocks = byShape.get(String(shape));
    if (!blocks) {
      blocks = randomFillSync(new Uint8Array((shape[0] * shape[1] / 32) * 34));
      for (let at = 0; at < blocks.length; at += 34) { blocks[at] = 0x00; blocks[at + 1] = 0x20; }
      byShape.set(String(shape), blocks);
    }
    tensors[name] = { dtype: 'q8_0', shape, data: blocks };
  }
  writeGguf(path, config, tensors, {}, {});
}

/** Resident bytes of this process's mappings of `file` (/proc/self/smaps). */
function mappedResident(file: string): number {
  const lines = readFileSync('/proc/self/smaps', 'utf8').split('\n');
  let total = 0;
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].endsWith(file)) continue;
    const rss = lines.slice(i + 1, i + 8).find((l) => l.startsWith('Rss:'));
    total += Number(/(\d+) kB/.exec(rss ?? '')?.[1] ?? 0) * 1024;
  }
  return total;
}

function status(key: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m![1]) * 1024;
}

describe('loading a quantized GGUF file', () => {
  it.runIf(process.platform === 'linux')('peaks at about the file size plus the KV pool, and keeps about that resident', async () => {
    const file = join(dir, 'q8.gguf');
    writeModel(file);
    const fileBytes = statSync(file).size;
    expect(fileBytes).toBeGreaterThan(55 * MiB);
    globalThis.gc?.();
    writeFileSync('/proc/self/clear_refs', '5'); // VmHWM := VmRSS
    const before = status('VmRSS');
    let model: Awaited<ReturnType<typeof loadGgufModel>> | undefined = await loadGgufModel(file);
    const ex = NativeExecutor.create({ config: model.config, tensors: model.tensors, numPages: 16, pageSize: 16, numThreads: 1, maxBatchTokens: 16, maxSeqs: 1 });
    const peak = status('VmHWM') - before, resident = status('VmRSS') - before, mapped = mappedResident(file);
    const { weightBytes, kvBytes } = ex.nativeInfo();
    model = undefined;
    ex.close();
    const report = `file ${(fileBytes / MiB).toFixed(1)} MiB, weights ${(weightBytes / MiB).toFixed(1)}, KV ${(kvBytes / MiB).toFixed(1)}: ` +
      `load peak +${(peak / MiB).toFixed(1)} MiB, resident after +${(resident / MiB).toFixed(1)} MiB, of the file's mapping ${(mapped / MiB).toFixed(2)} MiB`;
    console.info(report);
    expect(weightBytes).toBeGreaterThan(fileBytes * 0.95); // still quantized
    // The copied tensors' pages are gone (what stays: the header, the tokenizer's metadata, page edges).
    expect(mapped, report).toBeLessThan(2 * MiB);
    // Measured about +12 MiB over the file and the KV pool (parsing, the executor's buffers); a
    // load through a Buffer copy would be at least a second file on top.
    expect(peak, report).toBeLessThan(1.5 * fileBytes + kvBytes);
    expect(resident, report).toBeLessThan(1.3 * weightBytes + kvBytes);
  });
});
