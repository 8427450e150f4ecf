/** The machine a benchmark ran on, in one line: CPU model, core count and the instruction sets the kernels care about. */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

const FLAGS = ['avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_bf16', 'avx512_vnni', 'avx_vnni'];

export function cpuDescription(): string {
  const model = cpus()[0]?.model ?? 'unknown CPU';
  let flags: string[] = [];
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags')) ?? '';
    const have = new Set(line.split(':')[1]?.trim().split(/\s+/) ?? []);
    flags = FLAGS.filter((f) => have.has(f));
  } catch {
    flags = ['(instruction sets unknown: no /proc/cpuinfo)'];
  }
  return `${model}, ${cpus().length} cores, ${flags.join(' ')}`;
}
