/**
 * The machine a bench ran on: CPU model and the instruction sets that matter to the
 * kernels (from /proc/cpuinfo on Linux; the model alone elsewhere).
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export interface MachineInfo {
  cpu: string;
  cores: number;
  /** Instruction sets the kernels use, as named by the CPU flags (avx2, fma, avx512f, ...). */
  isa: string[];
}

const RELEVANT = ['sse4_2', 'avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_bf16', 'avx512_vnni', 'avx_vnni'];

function cpuFlags(): Set<string> {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const line = info.split('\n').find((l) => l.startsWith('flags'));
    return new Set((line?.split(':')[1] ?? '').trim().split(/\s+/));
  } catch {
    return new Set();
  }
}

export function machineInfo(): MachineInfo {
  const flags = cpuFlags();
  return { cpu: cpus()[0]?.model.trim() ?? 'unknown', cores: cpus().length, isa: RELEVANT.filter((f) => flags.has(f)) };
}

/** "AMD EPYC 9R45 (2 cores; avx2 fma avx512f ...)" for report headers. */
export function cpuLine(info: MachineInfo = machineInfo()): string {
  return `${info.cpu} (${info.cores} cores; ${info.isa.join(' ') || 'ISA flags unknown'})`;
}
