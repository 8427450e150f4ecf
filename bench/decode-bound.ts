/**
 * The single-stream decode bench's accounting (pure, no executor): what one decode step must
 * read, and each pass's share of the read bandwidth measured right beside it.
 *
 * Bytes per token: every weight a step streams (the layers' matrices and norms, the final
 * norm, the LM head), one row of the token embedding (the embedding matrix is not read
 * whole), and the K/V the attention reads at the step's own context (position p reads p + 1
 * entries per layer), plus the one entry it writes. A pass of `steps` steps from position 0
 * reads (steps + 1) / 2 entries on average.
 */

export interface StepBytesInput {
  /** All weights held (info().weightBytes): embedding included, tied LM heads counted as held. */
  weightBytes: number;
  /** The whole token embedding as held (0 when the model has none apart from the LM head). */
  embeddingBytes: number;
  /** One row of it, as held (hidden x element bytes, or one row of quantized blocks). */
  embeddingRowBytes: number;
  /** K and V of one position over all layers, as stored (info().kvBytes / slots). */
  kvBytesPerPosition: number;
  /** Steps of a pass, at positions 0 .. steps - 1. */
  steps: number;
}

export interface StepBytes { weights: number; embeddingRow: number; kvRead: number; kvWrite: number; total: number }

export function stepBytes(i: StepBytesInput): StepBytes {
  if (!(i.steps >= 1)) throw new RangeError(`steps must be >= 1, got ${i.steps}`);
  if (i.embeddingBytes > i.weightBytes) throw new RangeError('the embedding cannot outweigh all the weights');
  const weights = i.weightBytes - i.embeddingBytes;
  const kvRead = (i.kvBytesPerPosition * (i.steps + 1)) / 2;
  const kvWrite = i.kvBytesPerPosition;
  return { weights, embeddingRow: i.embeddingRowBytes, kvRead, kvWrite, total: weights + i.embeddingRowBytes + kvRead + kvWrite };
}

/**
 * Per pass: its GB/s over the bound measured beside it. probes[i] and probes[i + 1] are the
 * read bandwidth just before and just after pass i (the bench interleaves them); the bound of
 * a pass is the higher of its two, so a burst of other work during one probe does not
 * flatter the share.
 */
export function passShares(tokPerS: readonly number[], bytesPerToken: number, before: readonly number[], after: readonly number[]): number[] {
  if (before.length !== tokPerS.length || after.length !== tokPerS.length) throw new RangeError('one probe before and one after every pass');
  return tokPerS.map((tok, i) => (tok * bytesPerToken) / 1e9 / Math.max(before[i], after[i]));
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Median and range, as "62 % (55-70)" for shares (0..1). */
export function shareCell(shares: readonly number[]): string {
  if (shares.length === 0) return '-';
  const pct = (x: number): string => (100 * x).toFixed(0);
  return `${pct(median(shares))} % (${pct(Math.min(...shares))}-${pct(Math.max(...shares))})`;
}
