/**
 * Model-based property: random operation sequences against a plain refcount array. After every
 * operation the allocator matches the model, conserves pages, and a failed operation changed nothing.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { PageAllocator } from '../../src/pages/allocator.js';
import { CapacityError, NanoServingError } from '../../src/errors.js';

const RUNS = Math.max(1, Math.round(200 * Number(process.env.NANO_PROPERTY_RUNS ?? 1)));

type Op =
  | { kind: 'allocate'; n: number }
  | { kind: 'retain'; pick: number }
  | { kind: 'releaseHeld'; picks: number[] }     // held pages, possibly more times than they are held
  | { kind: 'releaseAny'; pages: number[] }      // any ids, free or out of range included
  | { kind: 'releaseTwice'; pick: number };      // release a page to 0, then once more

const opArb = (numPages: number): fc.Arbitrary<Op> =>
  fc.oneof(
    fc.record({ kind: fc.constant('allocate' as const), n: fc.nat(numPages + 2) }),
    fc.record({ kind: fc.constant('retain' as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant('releaseHeld' as const), picks: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }),
    fc.record({ kind: fc.constant('releaseAny' as const), pages: fc.array(fc.integer({ min: -1, max: numPages }), { maxLength: 3 }) }),
    fc.record({ kind: fc.constant('releaseTwice' as const), pick: fc.nat() }),
  );

const scenarioArb = fc.integer({ min: 0, max: 10 }).chain((numPages) =>
  fc.record({ numPages: fc.constant(numPages), ops: fc.array(opArb(numPages), { maxLength: 60 }) }),
);

/** The model: how many holders each page has. */
class Model {
  readonly counts: number[];
  constructor(numPages: number) {
    this.counts = new Array<number>(numPages).fill(0);
  }
  get numFree(): number {
    return this.counts.filter((c) => c === 0).length;
  }
  heldPages(): number[] {
    return this.counts.flatMap((c, page) => (c > 0 ? [page] : []));
  }
  /** Whether releasing `pages` (with repeats) keeps every count >= 0. */
  canRelease(pages: number[]): boolean {
    const want = new Map<number, number>();
    for (const p of pages) want.set(p, (want.get(p) ?? 0) + 1);
    return [...want].every(([p, n]) => Number.isInteger(p) && p >= 0 && p < this.counts.length && this.counts[p] >= n);
  }
}

function expectSame(alloc: PageAllocator, model: Model): void {
  alloc.checkIntegrity();
  expect(alloc.numFree).toBe(model.numFree);
  const held = model.counts.filter((c) => c > 0).length;
  expect(alloc.numFree + held).toBe(alloc.numPages);
  for (let p = 0; p < model.counts.length; p++) expect(alloc.refCount(p)).toBe(model.counts[p]);
}

function expectRelease(alloc: PageAllocator, model: Model, pages: number[]): void {
  if (model.canRelease(pages)) {
    alloc.release(pages);
    for (const p of pages) model.counts[p]--;
  } else {
    expect(() => alloc.release(pages)).toThrow(NanoServingError);
  }
}

function apply(alloc: PageAllocator, model: Model, op: Op): void {
  const held = model.heldPages();
  switch (op.kind) {
    case 'allocate':
      if (op.n > model.numFree) {
        expect(alloc.canAllocate(op.n)).toBe(false);
        expect(() => alloc.allocate(op.n)).toThrow(CapacityError);
      } else {
        expect(alloc.canAllocate(op.n)).toBe(true);
        const pages = alloc.allocate(op.n);
        expect(pages).toHaveLength(op.n);
        for (const p of pages) {
          expect(model.counts[p]).toBe(0); // never hands out a held page, nor one twice
          model.counts[p] = 1;
        }
      }
      return;
    case 'retain':
      if (held.length === 0) return;
      alloc.retain(held[op.pick % held.length]);
      model.counts[held[op.pick % held.length]]++;
      return;
    case 'releaseHeld':
      if (held.length === 0) return;
      expectRelease(alloc, model, op.picks.map((i) => held[i % held.length]));
      return;
    case 'releaseAny':
      expectRelease(alloc, model, op.pages);
      return;
    case 'releaseTwice': {
      if (held.length === 0) return;
      const page = held[op.pick % held.length];
      while (model.counts[page] > 0) expectRelease(alloc, model, [page]);
      expect(() => alloc.release([page])).toThrow(NanoServingError);
      return;
    }
  }
}

describe('PageAllocator (model-based property)', () => {
  it('matches a refcount model and conserves pages after every operation', () => {
    fc.assert(
      fc.property(scenarioArb, ({ numPages, ops }) => {
        const alloc = new PageAllocator(numPages);
        const model = new Model(numPages);
        for (const op of ops) {
          apply(alloc, model, op);
          expectSame(alloc, model);
        }
        // Releasing every remaining holder frees the whole pool.
        for (const p of model.heldPages()) while (model.counts[p] > 0) expectRelease(alloc, model, [p]);
        expectSame(alloc, model);
        expect(alloc.numFree).toBe(numPages);
      }),
      { numRuns: RUNS },
    );
  });
});
