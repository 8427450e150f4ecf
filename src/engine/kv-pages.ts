/**
 * The adapter between requests and KV pages: the page allocator plus, when enabled, the
 * radix prefix cache. The cache sees only token ids and page ids; this file is the one
 * place that knows a request holds a page table and a locked cache node.
 *
 * Ownership: a request holds one allocator reference on every page in its page table;
 * the cache holds one on every page it caches; a request locks the cache path it reuses.
 */
import { PageAllocator } from '../pages/allocator.js';
import { RadixCache, type RadixNode } from '../cache/radix.js';
import type { CachedPrefix } from '../scheduler/view.js';
import type { PageCensus } from '../pages/census.js';
import { KeptSequences } from './kept-sequences.js';
import type { RequestSlot } from './request-slot.js';

const NO_PREFIX: CachedPrefix = { numTokens: 0, numEvictablePages: 0 };

export class KvPages {
  readonly allocator: PageAllocator;
  readonly cache: RadixCache | undefined;
  /** What the executor keeps of each request's page table. */
  readonly kept = new KeptSequences();

  constructor(numPages: number, readonly pageSize: number, prefixCache: boolean, maxCachedPages?: number) {
    this.allocator = new PageAllocator(numPages);
    this.cache = prefixCache ? new RadixCache(this.allocator, pageSize, { maxPages: maxCachedPages }) : undefined;
  }

  get numFree(): number {
    return this.allocator.numFree;
  }

  get numEvictable(): number {
    return this.cache?.numEvictablePages ?? 0;
  }

  /** Read-only: the prefix a waiting request would reuse (capped so one token is always computed). */
  peekPrefix(slot: RequestSlot): CachedPrefix {
    if (!this.cache || slot.numTokens < 2) return NO_PREFIX;
    const match = this.cache.peek(slot.tokens, slot.numTokens - 1);
    if (match.numTokens === 0) return NO_PREFIX;
    // Pages only the cache holds may count as evictable now; over-counting here only makes admission more careful.
    let numEvictablePages = 0;
    for (const page of match.pages) if (this.allocator.refCount(page) === 1) numEvictablePages++;
    return { numTokens: match.numTokens, numEvictablePages };
  }

  /** Pages that become free or evictable if this request lets go of its page table. */
  reclaimable(slot: RequestSlot): number {
    let n = 0;
    for (const page of slot.pages) if (this.allocator.refCount(page) === 1) n++;
    return n;
  }

  /** Admission: lock and take references on the cached prefix (up to maxTokens); returns tokens reused. */
  adoptPrefix(slot: RequestSlot, maxTokens: number): number {
    if (!this.cache || maxTokens < this.pageSize) return 0;
    const match = this.cache.match(slot.tokens, maxTokens);
    this.cache.lock(match.node);
    slot.cacheNode = match.node;
    for (const page of match.pages) this.allocator.retain(page);
    slot.pages = [...match.pages];
    return match.numTokens;
  }

  /** Grows the request's page table by n pages, evicting cached pages if the free list is short. */
  grow(slot: RequestSlot, n: number): void {
    if (n <= 0) return;
    if (!this.allocator.canAllocate(n) && this.cache) this.cache.evict(n - this.allocator.numFree);
    for (const page of this.allocator.allocate(n)) slot.pages.push(page);
  }

  /** Offers the request's full computed pages to the cache and moves its lock to the deeper node. */
  publish(slot: RequestSlot): void {
    if (!this.cache) return;
    const numFull = Math.floor(slot.numComputed / this.pageSize);
    if (numFull === 0) return;
    const inserted = this.cache.insert(slot.tokens.subarray(0, numFull * this.pageSize), slot.pages.slice(0, numFull));
    this.cache.lock(inserted.node);
    if (slot.cacheNode !== undefined) this.cache.unlock(slot.cacheNode as RadixNode);
    slot.cacheNode = inserted.node;
    this.adoptCachedPages(slot, inserted.pages);
  }

  /**
   * Where another request cached the same tokens first, switch to its pages and free ours:
   * same tokens at the same positions give bitwise the same KV (batch invariance), and the
   * locked path then never holds pages its locker does not use.
   */
  private adoptCachedPages(slot: RequestSlot, cached: readonly number[]): void {
    for (let i = 0; i < cached.length; i++) {
      if (cached[i] === slot.pages[i]) continue;
      this.allocator.retain(cached[i]);
      this.allocator.release([slot.pages[i]]);
      slot.pages[i] = cached[i];
      this.kept.invalidateFrom(slot, i);
    }
  }

  /** Lets go of everything the request holds: cache lock and page references. */
  releaseAll(slot: RequestSlot): void {
    if (this.cache && slot.cacheNode !== undefined) this.cache.unlock(slot.cacheNode as RadixNode);
    slot.cacheNode = undefined;
    this.allocator.release(slot.pages);
    slot.pages = [];
    this.kept.forget(slot);
  }

  /** Who holds which page, counted from the holders themselves (request page tables, the cache). */
  census(requestPages: Iterable<readonly number[]>): PageCensus {
    return {
      total: this.allocator.numPages,
      numFree: this.allocator.numFree,
      refCounts: this.allocator.refCountsSnapshot(),
      requestPages: [...requestPages].map((pages) => pages.slice()),
      cachedPages: this.cache?.cachedPageIds() ?? [],
    };
  }

  checkIntegrity(): void {
    this.allocator.checkIntegrity();
    this.cache?.checkIntegrity();
  }
}
