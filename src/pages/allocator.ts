/**
 * The KV page allocator: a fixed pool of page ids 0..numPages-1, a LIFO free stack and a
 * reference count per page. A page is free exactly when its count is 0. Every operation is
 * O(1) per page, and each one either succeeds wholly or throws and changes nothing.
 */
import { CapacityError, NanoServingError } from '../errors.js';

export class PageAllocator {
  readonly numPages: number;
  private readonly refCounts: Int32Array;   // [numPages] holders of each page; 0 = free
  private readonly freeStack: Int32Array;   // [numPages] free page ids in [0, numFreePages), top at the end
  private numFreePages: number;

  constructor(numPages: number) {
    if (!Number.isInteger(numPages) || numPages < 0 || numPages > 0x7fffffff) {
      throw new NanoServingError('ERR_INVALID_ARGUMENT', `numPages must be an integer in [0, 2^31), got ${numPages}`);
    }
    this.numPages = numPages;
    this.refCounts = new Int32Array(numPages);
    this.freeStack = new Int32Array(numPages);
    // Stack the ids so that a fresh allocator hands out 0, 1, 2, ... in order.
    for (let i = 0; i < numPages; i++) this.freeStack[i] = numPages - 1 - i;
    this.numFreePages = numPages;
  }

  get numFree(): number {
    return this.numFreePages;
  }

  canAllocate(n: number): boolean {
    return n <= this.numFreePages;
  }

  /** Takes n free pages, each with refcount 1; throws CapacityError (and takes none) if fewer are free. */
  allocate(n: number): number[] {
    if (!Number.isInteger(n) || n < 0) {
      throw new NanoServingError('ERR_INVALID_ARGUMENT', `page count must be a non-negative integer, got ${n}`);
    }
    if (n > this.numFreePages) {
      throw new CapacityError(`cannot allocate ${n} KV pages: ${this.numFreePages} of ${this.numPages} free`, 'ERR_OUT_OF_PAGES');
    }
    const pages = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const page = this.freeStack[--this.numFreePages];
      this.refCounts[page] = 1;
      pages[i] = page;
    }
    return pages;
  }

  /** Adds one holder to a held page; throws if the page is free. */
  retain(page: number): void {
    this.checkHeld(page, 'retain');
    this.refCounts[page]++;
  }

  /** Drops one holder from each page; a page whose count reaches 0 is free again. Throws (and changes nothing) if any release would take a count below 0. */
  release(pages: ArrayLike<number>): void {
    for (let i = 0; i < pages.length; i++) {
      const page = pages[i];
      if (!this.isHeld(page)) {
        this.undoRelease(pages, i);
        throw pageStateError('release', page);
      }
      if (--this.refCounts[page] === 0) this.freeStack[this.numFreePages++] = page;
    }
  }

  refCount(page: number): number {
    if (!isPageId(page, this.numPages)) throw pageStateError('refCount', page);
    return this.refCounts[page];
  }

  /** A copy of every page's reference count (0 = free), for accounting checks. */
  refCountsSnapshot(): Int32Array {
    return this.refCounts.slice();
  }

  /** Throws if the pool is inconsistent: free + held != total, a page both free and held, a duplicate on the free stack, a negative count. */
  checkIntegrity(): void {
    const onFreeStack = new Uint8Array(this.numPages);
    for (let i = 0; i < this.numFreePages; i++) {
      const page = this.freeStack[i];
      if (!isPageId(page, this.numPages)) fail(`free stack holds invalid page id ${page}`);
      if (onFreeStack[page]) fail(`page ${page} is on the free stack twice`);
      if (this.refCounts[page] !== 0) fail(`page ${page} is free and held (refcount ${this.refCounts[page]})`);
      onFreeStack[page] = 1;
    }
    let numHeld = 0;
    for (let page = 0; page < this.numPages; page++) {
      const count = this.refCounts[page];
      if (count < 0) fail(`page ${page} has negative refcount ${count}`);
      if (count > 0) numHeld++;
      else if (!onFreeStack[page]) fail(`page ${page} has refcount 0 but is not on the free stack`);
    }
    if (numHeld + this.numFreePages !== this.numPages) {
      fail(`free ${this.numFreePages} + held ${numHeld} != total ${this.numPages}`);
    }
  }

  private isHeld(page: number): boolean {
    return isPageId(page, this.numPages) && this.refCounts[page] > 0;
  }

  private checkHeld(page: number, op: string): void {
    if (!this.isHeld(page)) throw pageStateError(op, page);
  }

  /** Rolls back releases of pages[0..end), newest first, so that the LIFO stack pops exactly what was pushed. */
  private undoRelease(pages: ArrayLike<number>, end: number): void {
    for (let i = end - 1; i >= 0; i--) {
      const page = pages[i];
      if (this.refCounts[page] === 0) this.numFreePages--;
      this.refCounts[page]++;
    }
  }
}

function isPageId(page: number, numPages: number): boolean {
  return Number.isInteger(page) && page >= 0 && page < numPages;
}

function pageStateError(op: string, page: number): NanoServingError {
  return new NanoServingError('ERR_PAGE_STATE', `${op}: page ${page} is not a held page`);
}

function fail(message: string): never {
  throw new NanoServingError('ERR_INTEGRITY', `page allocator: ${message}`);
}
