/** The JS side of kept sequences (simulator, bench profiler) refuses what the native side refuses, by name, and changes nothing then. */
import { describe, expect, it } from 'vitest';
import { ExecutorError } from '../../src/errors.js';
import { KeptPageTables } from '../../src/executor/kept-pages.js';
import type { StepInput } from '../../src/executor/step.js';

interface Run { id: number; start: number; numTokens: number; pages: number[]; isNew?: boolean; pageKeep?: number }

const offsets = (lengths: number[]): Int32Array => Int32Array.from([0, ...lengths.map((_, i) => lengths.slice(0, i + 1).reduce((a, b) => a + b, 0))]);

function stepOf(runs: Run[], release: number[] = []): StepInput {
  return {
    positions: Int32Array.from(runs.flatMap((r) => Array.from({ length: r.numTokens }, (_, i) => r.start + i))),
    seqStart: offsets(runs.map((r) => r.numTokens)),
    pageTable: Int32Array.from(runs.flatMap((r) => r.pages)),
    pageStart: offsets(runs.map((r) => r.pages.length)),
    seqIds: Int32Array.from(runs.map((r) => r.id)),
    seqIsNew: Uint8Array.from(runs.map((r) => (r.isNew ? 1 : 0))),
    pageKeep: Int32Array.from(runs.map((r) => r.pageKeep ?? 0)),
    releaseSeqs: Int32Array.from(release),
  } as unknown as StepInput;
}

function refusal(tables: KeptPageTables, input: StepInput): string | undefined {
  try {
    tables.apply(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ExecutorError);
    return `${(error as ExecutorError).nativeCode}: ${(error as Error).message}`;
  }
  return undefined;
}

describe('KeptPageTables', () => {
  it('applies deltas (appends, a replaced tail, releases, restarts) and returns whole tables', () => {
    const tables = new KeptPageTables({ numPages: 16, pageSize: 4 });
    expect(tables.apply(stepOf([{ id: 7, start: 0, numTokens: 6, pages: [3, 4], isNew: true }, { id: 9, start: 0, numTokens: 2, pages: [5], isNew: true }])).map((t) => Array.from(t))).toEqual([[3, 4], [5]]);
    expect(tables.apply(stepOf([{ id: 9, start: 2, numTokens: 3, pages: [6], pageKeep: 1 }, { id: 7, start: 6, numTokens: 1, pages: [8], pageKeep: 1 }])).map((t) => Array.from(t))).toEqual([[5, 6], [3, 8]]);
    expect(tables.apply(stepOf([{ id: 7, start: 0, numTokens: 3, pages: [1], isNew: true }], [9])).map((t) => Array.from(t))).toEqual([[1]]);
    expect(tables.numKept).toBe(1);
  });

  it('refuses an unknown or released id, an id twice, a page out of the pool, a gap, pageKeep past the kept pages, pages short of the run; nothing changes', () => {
    const tables = new KeptPageTables({ numPages: 8, pageSize: 4 });
    tables.apply(stepOf([{ id: 7, start: 0, numTokens: 5, pages: [0, 1], isNew: true }]));
    const cont: Run = { id: 7, start: 5, numTokens: 1, pages: [], pageKeep: 2 };
    const cases: Array<[StepInput, RegExp]> = [
      [stepOf([{ ...cont, id: 8 }]), /^ERR_NATIVE_SEQ: sequence id 8 is not kept/],
      [stepOf([cont], [7]), /^ERR_NATIVE_SEQ: sequence id 7 is not kept/],
      [stepOf([cont, cont]), /^ERR_NATIVE_SEQ: a sequence id appears twice/],
      [stepOf([{ ...cont, pages: [8] }]), /^ERR_NATIVE_PAGE: page id 8 outside \[0, 8\).*sequence id 7/],
      [stepOf([{ ...cont, start: 6 }]), /^ERR_NATIVE_POSITION: run of sequence id 7 starts at position 6, its kept state ends at 5/],
      [stepOf([{ ...cont, pageKeep: 3 }]), /^ERR_NATIVE_SHAPE: pageKeep of sequence id 7 = 3/],
      [stepOf([{ ...cont, pageKeep: 1 }]), /^ERR_NATIVE_POSITION: page table of sequence id 7 does not cover position 5/],
      [stepOf([{ id: 9, start: 0, numTokens: 1, pages: [2], isNew: true, pageKeep: 1 }]), /^ERR_NATIVE_SHAPE: pageKeep of new sequence id 9 must be 0/],
      // A good sequence before a bad one: the good one's delta is not applied either.
      [stepOf([{ id: 4, start: 0, numTokens: 1, pages: [3], isNew: true }, { ...cont, id: 8 }]), /^ERR_NATIVE_SEQ: sequence id 8/],
    ];
    for (const [input, message] of cases) expect(refusal(tables, input)).toMatch(message);
    expect(tables.numKept).toBe(1);
    expect(Array.from(tables.apply(stepOf([cont]))[0])).toEqual([0, 1]);
  });
});
