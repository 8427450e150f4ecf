/** Soak settings from the environment, and how a failing workload is reported (enough to replay it). */
import type { ChaosWorkload } from '../../src/testing/chaos.js';

/** NANO_SOAK_SECONDS scales every soak: the default-run lengths are for NANO_SOAK_SECONDS unset. */
export function soakSeconds(defaultSeconds: number): number {
  const value = Number(process.env.NANO_SOAK_SECONDS);
  return Number.isFinite(value) && value > 0 ? value : defaultSeconds;
}

/** NANO_SOAK_SEED replays a run's workloads (timings still vary); random otherwise. */
export function soakSeed(): number {
  const value = Number(process.env.NANO_SOAK_SEED);
  return Number.isInteger(value) ? value : Math.floor(Math.random() * 2 ** 31);
}

export function describeFailure(failure: { seed: number; batch: number; index: number; workload: ChaosWorkload; problems: string[] }): string {
  const json = JSON.stringify(failure.workload, (_, value: unknown) => (value === Infinity ? 'Infinity' : value));
  return [
    `seed ${failure.seed}, batch ${failure.batch}, workload ${failure.index} (replay: NANO_SOAK_SEED=${failure.seed})`,
    ...failure.problems.slice(0, 20).map((p) => `  ${p}`),
    `  workload: ${json}`,
  ].join('\n');
}
