/** The anchor's paired prefill comparison and its FLOP count (pure: stand-in measures, no executor, no llama.cpp). */
import { describe, expect, it } from 'vitest';
import { fmtSpread, prefillFlopsPerToken, prefillPairs, spreadOf } from '../../bench/prefill-pairs.js';
import { presetConfig } from '../../src/models/presets.js';

describe('spreadOf', () => {
  it('gives the median (the mean of the middle two for an even count), the min and the max', () => {
    expect(spreadOf([5, 1, 3])).toEqual({ median: 3, min: 1, max: 5 });
    expect(spreadOf([4, 1, 2, 10])).toEqual({ median: 3, min: 1, max: 10 });
    expect(() => spreadOf([])).toThrow(RangeError);
  });

  it('prints the median with its range, or the value alone when all agree', () => {
    expect(fmtSpread({ median: 3, min: 1, max: 5 })).toBe('3 (1-5)');
    expect(fmtSpread({ median: 1.234, min: 1.234, max: 1.234 }, 2)).toBe('1.23');
  });
});

describe('prefillPairs', () => {
  it('alternates which side runs first, and rates each pair on its own', async () => {
    const order: string[] = [];
    // The machine slows down round after round: each side's figure halves per measure taken.
    let speed = 1024;
    const take = (who: string): number => {
      order.push(who);
      const v = speed;
      speed /= 2;
      return v;
    };
    const pairs = await prefillPairs(async () => 2 * take('ours'), () => take('llama'), 4);
    expect(order).toEqual(['ours', 'llama', 'llama', 'ours', 'ours', 'llama', 'llama', 'ours']);
    expect(pairs.rounds.map((p) => p.isOursFirst)).toEqual([true, false, true, false]);
    // Ours first: 2x a side twice as fast -> 4x; llama first: ours measured in the slower half -> 1x.
    expect(pairs.rounds.map((p) => p.ours / p.llama)).toEqual([4, 1, 4, 1]);
    expect(pairs.ratio).toEqual({ median: 2.5, min: 1, max: 4 });
    expect(pairs.ours.median).toBe(spreadOf(pairs.rounds.map((p) => p.ours)).median);
  });

  it('takes the median of the pairs, so one disturbed pair does not move the ratio', async () => {
    const ours = [100, 100, 20, 100, 100];
    const llama = [50, 50, 50, 50, 50];
    let i = 0, j = 0;
    const pairs = await prefillPairs(async () => ours[i++], () => llama[j++], 5);
    expect(pairs.ratio.median).toBe(2);
    expect(pairs.ratio.min).toBe(0.4);
  });
});

describe('prefillFlopsPerToken', () => {
  it('matches the README arithmetic for the medium and small presets at 512 tokens', () => {
    // medium: GEMMs 169.87 MFLOP (with the LM head once per prompt), attention 9.46 -> 179.42 per token.
    expect(prefillFlopsPerToken(presetConfig('medium'), 512) / 1e6).toBeCloseTo(179.42, 1);
    expect(prefillFlopsPerToken(presetConfig('small'), 512) / 1e6).toBeCloseTo(13.75, 1);
  });
});
