/**
 * Arrival processes in (virtual) time: each returns n arrival times in milliseconds,
 * ascending, from a seed (deterministic). Poisson (exponential gaps), bursts (groups at
 * once, groups apart), and traces (given times, or gaps).
 */

/** A small seeded generator (mulberry32): uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Poisson arrivals at `ratePerSec` (Infinity: all at 0). */
export function poissonArrivals(n: number, ratePerSec: number, seed: number): number[] {
  if (ratePerSec === Infinity) return new Array<number>(n).fill(0);
  const random = seededRandom(seed);
  const times: number[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    times.push(t);
    t += (-Math.log(1 - random()) / ratePerSec) * 1000;
  }
  return times;
}

/** Bursts of `burstSize` requests at once, one burst every `gapMs`. */
export function burstArrivals(n: number, burstSize: number, gapMs: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.floor(i / Math.max(1, burstSize)) * gapMs);
}

/** A trace: absolute times, or with `{ gaps: true }` the gaps between consecutive arrivals. */
export function traceArrivals(times: readonly number[], options: { gaps?: boolean } = {}): number[] {
  if (!options.gaps) return [...times].sort((a, b) => a - b);
  let t = 0;
  return times.map((gap) => (t += Math.max(0, gap)));
}
