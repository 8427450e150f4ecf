import { describe, it, expect } from 'vitest';
import { PageAllocator } from '../../src/pages/allocator.js';
import { CapacityError, NanoServingError } from '../../src/errors.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof NanoServingError ? err.code : `not a NanoServingError: ${String(err)}`;
  }
  return undefined;
}

describe('PageAllocator', () => {
  it('starts with every page free and hands out ids in order', () => {
    const alloc = new PageAllocator(4);
    expect(alloc.numPages).toBe(4);
    expect(alloc.numFree).toBe(4);
    expect(alloc.allocate(0)).toEqual([]);
    expect(alloc.allocate(3)).toEqual([0, 1, 2]);
    expect(alloc.numFree).toBe(1);
    expect(alloc.refCount(0)).toBe(1);
    expect(alloc.refCount(3)).toBe(0);
    alloc.checkIntegrity();
  });

  it('canAllocate agrees with allocate', () => {
    const alloc = new PageAllocator(3);
    expect(alloc.canAllocate(0)).toBe(true);
    expect(alloc.canAllocate(3)).toBe(true);
    expect(alloc.canAllocate(4)).toBe(false);
    alloc.allocate(2);
    expect(alloc.canAllocate(1)).toBe(true);
    expect(alloc.canAllocate(2)).toBe(false);
  });

  it('throws CapacityError beyond the free pages and changes nothing', () => {
    const alloc = new PageAllocator(3);
    const held = alloc.allocate(2);
    expect(() => alloc.allocate(2)).toThrow(CapacityError);
    expect(codeOf(() => alloc.allocate(2))).toBe('ERR_OUT_OF_PAGES');
    expect(alloc.numFree).toBe(1);
    expect(held.map((p) => alloc.refCount(p))).toEqual([1, 1]);
    expect(alloc.allocate(1)).toEqual([2]);
    alloc.checkIntegrity();
  });

  it('frees a page only when its last holder releases it', () => {
    const alloc = new PageAllocator(2);
    const [page] = alloc.allocate(1);
    alloc.retain(page);
    alloc.retain(page);
    expect(alloc.refCount(page)).toBe(3);
    alloc.release([page]);
    alloc.release([page]);
    expect(alloc.numFree).toBe(1);
    alloc.release([page]);
    expect(alloc.refCount(page)).toBe(0);
    expect(alloc.numFree).toBe(2);
    alloc.checkIntegrity();
  });

  it('reuses the most recently freed page first (LIFO)', () => {
    const alloc = new PageAllocator(4);
    const pages = alloc.allocate(4);
    alloc.release([pages[1], pages[3]]);
    expect(alloc.allocate(1)).toEqual([3]);
    expect(alloc.allocate(1)).toEqual([1]);
  });

  it('throws on a double release and on releasing a free page', () => {
    const alloc = new PageAllocator(2);
    const [page] = alloc.allocate(1);
    alloc.release([page]);
    expect(codeOf(() => alloc.release([page]))).toBe('ERR_PAGE_STATE');
    expect(codeOf(() => alloc.release([1]))).toBe('ERR_PAGE_STATE');
    expect(alloc.numFree).toBe(2);
    alloc.checkIntegrity();
  });

  it('makes a failed release change nothing, even after part of the list was released', () => {
    const alloc = new PageAllocator(4);
    const [a, b] = alloc.allocate(2);
    alloc.retain(b);
    expect(codeOf(() => alloc.release([a, b, b, b]))).toBe('ERR_PAGE_STATE');
    expect(alloc.refCount(a)).toBe(1);
    expect(alloc.refCount(b)).toBe(2);
    expect(alloc.numFree).toBe(2);
    alloc.checkIntegrity();
    expect(alloc.allocate(2)).toEqual([2, 3]);
  });

  it('rejects retain of a free page and out-of-range or non-integer ids', () => {
    const alloc = new PageAllocator(2);
    expect(codeOf(() => alloc.retain(0))).toBe('ERR_PAGE_STATE');
    expect(codeOf(() => alloc.retain(-1))).toBe('ERR_PAGE_STATE');
    expect(codeOf(() => alloc.release([2]))).toBe('ERR_PAGE_STATE');
    expect(codeOf(() => alloc.release([0.5]))).toBe('ERR_PAGE_STATE');
    expect(codeOf(() => alloc.refCount(2))).toBe('ERR_PAGE_STATE');
    expect(codeOf(() => alloc.allocate(-1))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => alloc.allocate(1.5))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new PageAllocator(-1))).toBe('ERR_INVALID_ARGUMENT');
    alloc.checkIntegrity();
  });

  it('works with an empty pool', () => {
    const alloc = new PageAllocator(0);
    expect(alloc.allocate(0)).toEqual([]);
    expect(() => alloc.allocate(1)).toThrow(CapacityError);
    alloc.checkIntegrity();
  });

  it('checkIntegrity detects corrupted state', () => {
    type Internals = { refCounts: Int32Array; freeStack: Int32Array; numFreePages: number };
    const corrupt = (mutate: (s: Internals) => void): void => {
      const alloc = new PageAllocator(4);
      alloc.allocate(2);
      mutate(alloc as unknown as Internals);
      expect(codeOf(() => alloc.checkIntegrity())).toBe('ERR_INTEGRITY');
    };
    corrupt((s) => { s.refCounts[0] = -1; });                       // negative count
    corrupt((s) => { s.refCounts[2] = 1; });                        // free and held
    corrupt((s) => { s.freeStack[1] = s.freeStack[0]; });           // duplicate on the free stack
    corrupt((s) => { s.numFreePages--; });                          // a page lost: free + held != total
    corrupt((s) => { s.refCounts[0] = 0; });                        // count 0 but not free
  });
});
