/** Soak settings from the environment, and how a failing workload is reported (enough to replay it). */
import type { ChaosWorkload } from '../../src/testing/chaos.js';

/**
 * Soaks are bounded by a count of workloads, never by seconds, so a loaded machine runs
 * the same cases as an idle one. NANO_SOAK_SCALE multiplies every count (default 1).
 */
export function soakCount(defaultCount: number): number {
  const value = Number(process.env.NANO_SOAK_SCALE);
  return Math.max(1, Math.round(defaultCount * (Number.isFinite(value) && value > 0 ? value : 1)));
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
