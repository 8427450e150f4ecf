/**
 * The command line of a bench script, read strictly: an option the script does not declare, an
 * option without its value, a number out of range and a list item the script does not know are
 * all refused by name (BenchArgError), so a typo never runs something other than what was asked.
 * Node's own `util.parseArgs` does the parsing.
 */
import { parseArgs } from 'node:util';
import { PRESETS, type PresetName } from '../src/models/presets.js';
import type { KvDtype } from '../src/native/binding.js';

/** The values of --model and --kv lists. */
export const PRESET_NAMES = Object.keys(PRESETS) as readonly PresetName[];
export const KV_DTYPES: readonly KvDtype[] = ['f32', 'f16', 'bf16', 'q8_0'];

export class BenchArgError extends Error {
  override readonly name = 'BenchArgError';
}

/** Each option's kind: 'flag' takes no value, 'value' one, 'values' is repeatable. */
export type BenchArgSpec = Readonly<Record<string, 'flag' | 'value' | 'values'>>;

export interface BenchArgs {
  /** A 'flag' option: given or not. */
  flag(name: string): boolean;
  /** A 'value' option's value, or the fallback when it is not given. */
  value(name: string, fallback: string): string;
  /** A 'value' option as an integer >= min. */
  int(name: string, fallback: number, min?: number): number;
  /** A 'value' option as a comma-separated list whose items are all among `allowed` (empty items dropped). */
  list<T extends string>(name: string, allowed: readonly T[], fallback: string): T[];
  /** A 'value' option that must be one of `allowed`. */
  choice<T extends string>(name: string, allowed: readonly T[], fallback: T): T;
  /** Every value of a 'values' option, in order. */
  all(name: string): string[];
}

export function benchArgs(spec: BenchArgSpec, argv: readonly string[] = process.argv.slice(2)): BenchArgs {
  const options = Object.fromEntries(Object.entries(spec).map(([name, kind]) =>
    [name, kind === 'flag' ? { type: 'boolean' as const } : { type: 'string' as const, multiple: kind === 'values' }]));
  let values: Record<string, string | boolean | Array<string | boolean> | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (error) {
    const known = Object.keys(spec).map((name) => `--${name}`).join(', ');
    throw new BenchArgError(`${(error as Error).message} (this script takes ${known})`);
  }
  const declared = (name: string, kind: BenchArgSpec[string]): void => {
    if (spec[name] !== kind) throw new BenchArgError(`--${name} is not a declared ${kind} option of this script`);
  };
  const value = (name: string, fallback: string): string => {
    declared(name, 'value');
    const v = values[name];
    return typeof v === 'string' ? v : fallback;
  };
  return {
    flag: (name) => {
      declared(name, 'flag');
      return values[name] === true;
    },
    value,
    int: (name, fallback, min = 1) => {
      const raw = value(name, String(fallback));
      const n = Number(raw);
      if (!Number.isInteger(n) || n < min) throw new BenchArgError(`--${name} takes an integer >= ${min}, got '${raw}'`);
      return n;
    },
    list: <T extends string>(name: string, allowed: readonly T[], fallback: string): T[] => {
      const items = value(name, fallback).split(',').filter(Boolean);
      const unknown = items.filter((item) => !(allowed as readonly string[]).includes(item));
      if (unknown.length > 0) throw new BenchArgError(`--${name}: unknown ${unknown.map((u) => `'${u}'`).join(', ')} (it takes ${allowed.join(', ')})`);
      return items as T[];
    },
    choice: <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
      const v = value(name, fallback);
      if (!(allowed as readonly string[]).includes(v)) throw new BenchArgError(`--${name} takes one of ${allowed.join(', ')}, got '${v}'`);
      return v as T;
    },
    all: (name) => {
      declared(name, 'values');
      return ((values[name] ?? []) as string[]).slice();
    },
  };
}
