/**
 * The machine a bench ran on: CPU model, core count and the instruction sets the kernels
 * care about (from /proc/cpuinfo on Linux; the model alone elsewhere).
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export interface MachineInfo {
  cpu: string;
  cores: number;
  /** Instruction sets the kernels use, as named by the CPU flags (avx2, fma, avx512f, ...). */
  isa: string[];
}

const RELEVANT = ['avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_bf16', 'avx512_vnni', 'avx_vnni'];

function cpuFlags(): Set<string> | undefined {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags')) ?? '';
    return new Set(line.split(':')[1]?.trim().split(/\s+/) ?? []);
  } catch {
    return undefined;
  }
}

export function machineInfo(): MachineInfo {
  const flags = cpuFlags();
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus().length,
    isa: flags ? RELEVANT.filter((f) => flags.has(f)) : ['(instruction sets unknown: no /proc/cpuinfo)'],
  };
}

/** "AMD EPYC, 2 cores, avx2 fma ..." for report headers. */
export function cpuDescription(info: MachineInfo = machineInfo()): string {
  return `${info.cpu}, ${info.cores} cores, ${info.isa.join(' ')}`;
}

export const cpuLine = cpuDescription;
