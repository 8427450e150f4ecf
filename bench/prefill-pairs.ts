/**
 * The prefill comparison of the anchor, robust to a shared machine's swings: ours and
 * llama.cpp's pp512 measured in pairs, one right after the other, the order alternating
 * (ours first in even rounds, llama.cpp first in odd ones), so a slow drift of the load
 * weighs on both sides of most pairs. Each side's figure is the median over the rounds,
 * with its spread; the ratio is the median of the pairs' ratios, with its spread.
 * Also: what a prefill costs in FLOPs, so a target can be stated as a share of the FMA peak.
 */
import type { ModelConfig } from '../src/models/config.js';

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface PrefillPairs {
  rounds: Array<{ ours: number; llama: number; isOursFirst: boolean }>;
  ours: Spread;
  llama: Spread;
  /** ours / llama.cpp, per pair. */
  ratio: Spread;
}

export function spreadOf(values: readonly number[]): Spread {
  if (values.length === 0) throw new RangeError('spreadOf needs at least one value');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/** `rounds` pairs of (ours, llama.cpp) tokens/s, alternating which runs first. */
export async function prefillPairs(ours: () => Promise<number>, llama: () => number, rounds: number): Promise<PrefillPairs> {
  const out: PrefillPairs['rounds'] = [];
  for (let r = 0; r < rounds; r++) {
    const isOursFirst = r % 2 === 0;
    let o = 0, l = 0;
    if (isOursFirst) {
      o = await ours();
      l = llama();
    } else {
      l = llama();
      o = await ours();
    }
    out.push({ ours: o, llama: l, isOursFirst });
  }
  return {
    rounds: out,
    ours: spreadOf(out.map((p) => p.ours)),
    llama: spreadOf(out.map((p) => p.llama)),
    ratio: spreadOf(out.map((p) => p.ours / p.llama)),
  };
}

/**
 * FLOPs per prompt token of a `promptLen`-token prefill in one step, 2 per multiply-add: the
 * blocks' matmuls, attention's q k^T and p v over the causal range ((promptLen + 1) / 2
 * positions on average), and the LM head once per prompt.
 */
export function prefillFlopsPerToken(c: ModelConfig, promptLen: number): number {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const ffnMats = c.family === 'llama' ? 3 : 2;
  const blockParams = c.numLayers * (c.hiddenSize * (q + 2 * kv) + q * c.hiddenSize + ffnMats * c.hiddenSize * c.intermediateSize);
  const attention = 4 * c.numLayers * c.numHeads * c.headDim * ((promptLen + 1) / 2);
  return 2 * blockParams + attention + (2 * c.vocabSize * c.hiddenSize) / promptLen;
}

export const fmtSpread = (s: Spread, digits = 0): string =>
  s.min === s.max ? s.median.toFixed(digits) : `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}-${s.max.toFixed(digits)})`;
