/**
 * fast-check options for a property that compares numbers within a tolerance: a fixed
 * seed per property, so CI reruns the same cases and a rare case at the edge of the
 * tolerance cannot make it flaky. NANO_PROPERTY_SEED=N explores other cases (and
 * reproduces a failure fast-check reported with its seed). Exact properties stay unseeded.
 */
export function seeded(seed: number): { seed: number } {
  const override = process.env.NANO_PROPERTY_SEED;
  return { seed: override === undefined || override === '' ? seed : Number(override) };
}
