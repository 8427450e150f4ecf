import { describe, expect, it } from 'vitest';
import { BenchArgError, benchArgs, PRESET_NAMES } from '../../bench/args.js';

const spec = { rounds: 'value', model: 'value', quick: 'flag', variant: 'values' } as const;

describe('bench command lines', () => {
  it('reads values, flags, lists and repeated options, with fallbacks', () => {
    const args = benchArgs(spec, ['--rounds', '3', '--model', 'small,medium', '--quick', '--variant', 'a, b', '--variant', 'c']);
    expect(args.int('rounds', 1)).toBe(3);
    expect(args.list('model', PRESET_NAMES, 'small')).toEqual(['small', 'medium']);
    expect(args.flag('quick')).toBe(true);
    expect(args.all('variant')).toEqual(['a, b', 'c']);
    const none = benchArgs(spec, []);
    expect(none.int('rounds', 5)).toBe(5);
    expect(none.list('model', PRESET_NAMES, 'tiny')).toEqual(['tiny']);
    expect(none.flag('quick')).toBe(false);
    expect(none.all('variant')).toEqual([]);
    expect(benchArgs(spec, ['--model', 'medium']).choice('model', PRESET_NAMES, 'small')).toBe('medium');
  });

  it('refuses an option the script does not take, naming it and the ones it does', () => {
    expect(() => benchArgs(spec, ['--round', '3'])).toThrow(BenchArgError);
    expect(() => benchArgs(spec, ['--round', '3'])).toThrow(/--round.*this script takes --rounds, --model, --quick, --variant/);
    expect(() => benchArgs(spec, ['--rounds'])).toThrow(BenchArgError);  // no value
    expect(() => benchArgs(spec, ['stray'])).toThrow(BenchArgError);  // no positionals
    expect(() => benchArgs(spec, ['--quick=yes'])).toThrow(BenchArgError);
  });

  it('refuses values out of range and list items it does not know, by name', () => {
    const args = benchArgs(spec, ['--rounds', '0', '--model', 'small,mediun']);
    expect(() => args.int('rounds', 1)).toThrow(/--rounds takes an integer >= 1, got '0'/);
    expect(() => benchArgs(spec, ['--rounds', 'two']).int('rounds', 1)).toThrow(BenchArgError);
    expect(() => benchArgs(spec, ['--rounds', '2.5']).int('rounds', 1)).toThrow(BenchArgError);
    expect(() => args.list('model', PRESET_NAMES, 'small')).toThrow(/--model: unknown 'mediun'/);
    expect(() => args.choice('model', PRESET_NAMES, 'small')).toThrow(/--model takes one of tiny, small, medium/);
  });

  it('refuses a read of an option under another kind than declared (a script bug, not a silent default)', () => {
    const args = benchArgs(spec, ['--quick']);
    expect(() => args.value('quick', 'x')).toThrow(BenchArgError);
    expect(() => args.flag('rounds')).toThrow(BenchArgError);
    expect(() => args.flag('undeclared')).toThrow(BenchArgError);
  });
});
