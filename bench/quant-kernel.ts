/**
 * The quantized kernels alone (issue #14): one matrix per format, in each kernel's layout,
 * times m activation rows, N threads; GB/s of weights read per product (m = 1: the decode
 * bound is the read bandwidth, measured in the same run) and Gop/s (m > 1).
 *
 *   npm run build:ts && flock /tmp/nano-bench.lock node dist/bench/quant-kernel.js [--n 4096] [--k 4096] [--m 1,8,32] [--threads 2]
 */
import { readFileSync } from 'node:fs';
import { QUANT_DTYPES, QUANT_FORMATS } from '../src/models/quant-formats.js';
import { quantizeValues } from '../src/models/quantize.js';
import { loadNative } from '../src/native/load.js';

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
}

function main(): void {
  const quant = loadNative().quant;
  const n = Number(arg('n', '4096')), k = Number(arg('k', '4096')), threads = Number(arg('threads', '2'));
  const ms = arg('m', '1,8,32').split(',').map(Number);
  const dtypes = arg('formats', QUANT_DTYPES.join(',')).split(',') as typeof QUANT_DTYPES[number][];
  const kernels = arg('kernels', quant.kernels().join(',')).split(',');
  const bandwidth = quant.readBandwidth(512, threads);
  console.log(`read bandwidth ${bandwidth.toFixed(1)} GB/s (${threads} threads); n ${n}, k ${k}; load ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
  const lines = ['| format | kernel | m | ms | weight GB/s | Gop/s | CPU ms (calling thread) | GB/s of CPU time |', '|---|---|---:|---:|---:|---:|---:|---:|'];
  for (const dtype of dtypes) {
    const values = Float32Array.from({ length: n * k }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)));
    const blocks = quantizeValues(values, dtype);
    for (const m of ms) {
      const x = Float32Array.from({ length: m * k }, (_, i) => Math.cos(i * 0.11));
      for (const kernel of kernels) {
        const reps = Math.max(5, Math.round(400 / m));
        const { wall: s, cpu } = quant.timeMatmul(dtype, blocks, n, k, x, m, kernel, threads, reps);
        const bytes = (n * k / QUANT_FORMATS[dtype].blockElems) * QUANT_FORMATS[dtype].blockBytes;
        lines.push(`| ${dtype} | ${kernel} | ${m} | ${(s * 1e3).toFixed(3)} | ${(bytes / s / 1e9).toFixed(1)} | ${(2 * m * n * k / s / 1e9).toFixed(1)} | ${(cpu * 1e3).toFixed(3)} | ${(bytes / cpu / 1e9).toFixed(1)} |`);
      }
    }
  }
  console.log(lines.join('\n'));
}

main();
