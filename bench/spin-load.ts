/**
 * Does the adaptive spin (native/src/spin_wait.h) back off on a busy machine? Decode steps
 * of the small preset (8 sequences) with a gap between them (the JS thread's work between
 * steps), timed for the step and for the process's CPU time, with the spin at its defaults
 * and turned off (NANO_SERVING_SPIN_US=0, NANO_SERVING_STEP_SPIN_US=0), on the machine as
 * it is and with busy-looping processes beside it (one per core). When the spin backs off,
 * the CPU time per step under load is close to the no-spin figure. Then the pool size: the
 * step runner is the pool's thread 0 (it computes a share); 1, 2 and 3 threads on the cores.
 *   node dist/bench/spin-load.js [--steps N] [--gap-ms G]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { NativeExecutor } from '../src/executor/native.js';
import { presetConfig } from '../src/models/presets.js';
import { syntheticTensors } from '../src/models/synthetic.js';
import { decodeInput } from './step-profile.js';
import { cpuLine } from './machine.js';

const arg = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
};

const busyUntil = (ms: number): void => {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* the JS thread's work between steps */ }
};

async function measure(spin: boolean, steps: number, gapMs: number, numThreads = Math.min(2, availableParallelism()), length = 1): Promise<{ stepMs: number; cpuMs: number }> {
  process.env.NANO_SERVING_SPIN_US = spin ? '200' : '0';
  process.env.NANO_SERVING_STEP_SPIN_US = spin ? '2000' : '0';
  const config = presetConfig('small');
  const ex = NativeExecutor.create({ config, tensors: syntheticTensors(config, 1), numPages: 8 * 4, pageSize: 16, numThreads, maxBatchTokens: 8 * 64, maxSeqs: 8 });
  try {
    const input = decodeInput(8, 40, 4, true, length);
    for (let i = 0; i < 5; i++) await ex.step(input);
    const times: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < steps; i++) {
      const s = performance.now();
      await ex.step(input);
      times.push(performance.now() - s);
      busyUntil(gapMs / 2);
      await new Promise((resolve) => setTimeout(resolve, gapMs / 2));
    }
    const cpu = process.cpuUsage(cpu0);
    times.sort((a, b) => a - b);
    return { stepMs: times[Math.floor(times.length / 2)], cpuMs: (cpu.user + cpu.system) / 1000 / steps };
  } finally {
    ex.close();
  }
}

function hogs(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => fork('-e', [], { execArgv: ['-e', 'for (;;) {}'], stdio: 'ignore' }));
}

async function main(): Promise<void> {
  const steps = arg('steps', 200), gapMs = arg('gap-ms', 2);
  console.log(`${cpuLine()}; small preset, 8-sequence decode steps, ${gapMs} ms between steps (half busy JS, half idle), ${steps} steps`);
  console.log('| machine | spin | load avg (1 min) | step p50 ms | process CPU ms per step |');
  console.log('|---|---|---|---|---|');
  for (const loaded of [false, true]) {
    const children = loaded ? hogs(availableParallelism()) : [];
    if (loaded) await new Promise((resolve) => setTimeout(resolve, 1500));
    try {
      for (const spin of [true, false]) {
        const r = await measure(spin, steps, gapMs);
        console.log(`| ${loaded ? `+${children.length} busy processes` : 'as it is'} | ${spin ? 'adaptive (200 / 2000 us)' : 'off'} | ${loadavg()[0].toFixed(2)} | ${r.stepMs.toFixed(2)} | ${r.cpuMs.toFixed(2)} |`);
      }
    } finally {
      for (const c of children) c.kill();
    }
  }
  console.log('\n| threads | decode x8 step p50 ms | CPU ms | 8 x 16-token prefill step p50 ms | CPU ms |');
  console.log('|---|---|---|---|---|');
  for (const threads of [1, 2, 3]) {
    const decode = await measure(true, steps, gapMs, threads);
    const prefill = await measure(true, Math.ceil(steps / 4), gapMs, threads, 16);
    console.log(`| ${threads} | ${decode.stepMs.toFixed(2)} | ${decode.cpuMs.toFixed(2)} | ${prefill.stepMs.toFixed(2)} | ${prefill.cpuMs.toFixed(2)} |`);
  }
}

await main();
