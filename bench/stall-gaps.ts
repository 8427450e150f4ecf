/**
 * The streams' ITL with the machine's stalls left out: a diagnostic beside the target, never
 * the target. A stall is a step over `stallMs` (on a shared machine under SCHED_FIFO, the
 * kernel's fair server takes a CPU for ~50 ms each second while others' tasks are runnable);
 * the `followers` steps after it run slow too (the caches refill). A gap whose later token
 * came in the time of a stall or of its followers is left out.
 */
export interface TimedStep {
  /** When the step resolved, and its ms (call to resolution). */
  end: number;
  ms: number;
}

/** The spans [start of a stall, end of its last follower] of the steps (in order of end). */
export function stallSpans(steps: readonly TimedStep[], stallMs: number, followers: number): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  steps.forEach((st, i) => {
    if (st.ms > stallMs) spans.push([st.end - st.ms, steps[Math.min(steps.length - 1, i + followers)].end]);
  });
  return spans;
}

/** The gaps of each token-time list whose later token came in [from, to) and in no span (a, b]. */
export function gapsOutside(tokenTimes: readonly (readonly number[])[], from: number, to: number, spans: ReadonlyArray<readonly [number, number]>): number[] {
  const gaps: number[] = [];
  for (const times of tokenTimes) {
    for (let i = 1; i < times.length; i++) {
      const t = times[i];
      if (t < from || t >= to || spans.some(([a, b]) => t > a && t <= b)) continue;
      gaps.push(t - times[i - 1]);
    }
  }
  return gaps;
}
