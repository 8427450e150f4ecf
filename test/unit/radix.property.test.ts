/**
 * Property: random sequences of simulated requests (admit = match + lock + retain + allocate,
 * compute steps that insert and move the lock, finish, abort, evict, probe, clear) over a tiny
 * vocabulary and a small pool, checked against a brute-force model of the cache: the set of
 * cached page-aligned prefixes, each with its page and last access time.
 *
 * After every operation: both integrity checks pass; every page's refcount equals its holders
 * (requests + cache); free + held-by-requests + cached-only = total. match returns exactly the
 * model's longest prefix; insert takes exactly the model's new pages; evict removes exactly what
 * LRU-over-unlocked-leaves predicts (so locked prefixes stay). At the end: free + evictable ==
 * total, every model prefix still matches, and clear() frees every page.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { PageAllocator } from '../../src/pages/allocator.js';
import { RadixCache, type RadixNode } from '../../src/cache/radix.js';
import { CapacityError } from '../../src/errors.js';

const MULTIPLIER = Number(process.env.NANO_PROPERTY_RUNS ?? 1);
const runs = (n: number): number => Math.max(1, Math.round(n * MULTIPLIER));
const MAX_LIVE = 4;

/**
 * Hot-path assertions: vitest's expect costs ~10 us a call, which would dominate the run, so
 * compare cheaply and hand only a mismatch to expect (for its message and diff).
 */
function same<T>(actual: T, expected: T, what: string): void {
  const equal = Array.isArray(actual) && Array.isArray(expected)
    ? actual.length === expected.length && actual.every((x, i) => x === expected[i])
    : actual === expected;
  if (!equal) expect(actual, what).toEqual(expected);
}

function atMost(actual: number, bound: number, what: string): void {
  if (!(actual <= bound)) expect(actual, what).toBeLessThanOrEqual(bound);
}

type Op =
  | { kind: 'admit'; prompt: number[] }
  | { kind: 'step'; pick: number; chunk: number; token: number }
  | { kind: 'finish'; pick: number }
  | { kind: 'abort'; pick: number }
  | { kind: 'evict'; n: number }
  | { kind: 'probe'; tokens: number[]; slack: number }
  | { kind: 'clear' };

interface Scenario { pageSize: number; numPages: number; maxPages: number | undefined; maxLen: number; ops: Op[] }

const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    pageSize: fc.integer({ min: 1, max: 3 }),
    vocab: fc.integer({ min: 1, max: 3 }),
    numPages: fc.integer({ min: 2, max: 14 }),
    cap: fc.option(fc.integer({ min: 0, max: 10 }), { freq: 3 }),
    clearWeight: fc.constantFrom(0, 0, 1),
  })
  .chain(({ pageSize, vocab, numPages, cap, clearWeight }) => {
    const maxLen = 4 * pageSize + 1;
    const tokens = (maxLength: number) => fc.array(fc.nat(vocab - 1), { minLength: 1, maxLength });
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('admit' as const), prompt: tokens(maxLen) }) },
      { weight: 8, arbitrary: fc.record({ kind: fc.constant('step' as const), pick: fc.nat(), chunk: fc.integer({ min: 1, max: 2 * pageSize + 1 }), token: fc.nat(vocab - 1) }) },
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('finish' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('evict' as const), n: fc.nat(numPages + 1) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('probe' as const), tokens: tokens(maxLen + pageSize), slack: fc.nat(pageSize + 1) }) },
      { weight: clearWeight, arbitrary: fc.constant({ kind: 'clear' as const }) },
    );
    return fc.record({
      pageSize: fc.constant(pageSize),
      numPages: fc.constant(numPages),
      maxPages: fc.constant(cap ?? undefined),
      maxLen: fc.constant(maxLen),
      ops: fc.array(op, { minLength: 5, maxLength: 60, size: 'max' }),
    });
  });

/** A prefix's key: every token followed by ',', so key A starts with key B iff prefix B is a prefix of A. */
const keyOf = (tokens: ArrayLike<number>, numTokens: number): string => {
  let key = '';
  for (let i = 0; i < numTokens; i++) key += `${tokens[i]},`;
  return key;
};

interface Entry { numPages: number; page: number; time: number }

/** The brute-force cache: every cached page-aligned prefix, its last page and its last access time. */
class CacheModel {
  readonly cached = new Map<string, Entry>();
  private clock = 0;
  numEvicted = 0;
  constructor(readonly pageSize: number, readonly maxPages: number, private readonly sim: Simulation) {}

  /** The cached pages of the longest cached prefix of at most maxTokens tokens; touches them. */
  match(tokens: ArrayLike<number>, maxTokens: number): number[] {
    const now = ++this.clock;
    const limit = Math.floor(Math.min(tokens.length, Math.max(0, maxTokens)) / this.pageSize);
    const pages: number[] = [];
    for (let j = 1; j <= limit; j++) {
      const entry = this.cached.get(keyOf(tokens, j * this.pageSize));
      if (entry === undefined) break;
      entry.time = now;
      pages.push(entry.page);
    }
    return pages;
  }

  /** Returns how many pages are new and how many pages the returned node's path covers. */
  insert(tokens: ArrayLike<number>, pages: number[]): { numNewPages: number; pathPages: number } {
    const k = Math.floor(tokens.length / this.pageSize);
    const existing = this.match(tokens, k * this.pageSize).length;
    const now = this.clock;
    let take = k - existing;
    if (this.cached.size + take > this.maxPages) {
      const pathKey = keyOf(tokens, existing * this.pageSize);
      this.evict(this.cached.size + take - this.maxPages, false, pathKey);
      take = Math.max(0, Math.min(take, this.maxPages - this.cached.size));
    }
    for (let j = existing + 1; j <= existing + take; j++) {
      this.cached.set(keyOf(tokens, j * this.pageSize), { numPages: j, page: pages[j - 1], time: now });
    }
    return { numNewPages: take, pathPages: existing + take };
  }

  /** LRU over unlocked leaves, one page at a time; returns pages freed (or removed, if !countFreedOnly). */
  evict(target: number, countFreedOnly: boolean, extraLock?: string): number {
    let done = 0;
    while (done < target) {
      let best: [string, Entry] | undefined;
      let tie = false;
      for (const item of this.cached) {
        if (!this.isLeaf(item[0], item[1]) || this.sim.isLocked(item[0], extraLock)) continue;
        if (best === undefined || item[1].time < best[1].time) [best, tie] = [item, false];
        else if (item[1].time === best[1].time) tie = true;
      }
      if (best === undefined) break;
      same(tie, false, 'two evictable leaves share an access time');
      this.cached.delete(best[0]);
      this.numEvicted++;
      if (!countFreedOnly || this.sim.numRequestHolders(best[1].page) === 0) done++;
    }
    return done;
  }

  /** The cached pages of the first numPages pages of tokens (all cached), without touching them. */
  pagesOf(tokens: ArrayLike<number>, numPages: number): number[] {
    return Array.from({ length: numPages }, (_, j) => this.cached.get(keyOf(tokens, (j + 1) * this.pageSize))!.page);
  }

  clear(): void {
    for (const key of [...this.cached.keys()]) if (!this.sim.isLocked(key)) this.cached.delete(key);
  }

  numUnlocked(): number {
    return [...this.cached.keys()].filter((key) => !this.sim.isLocked(key)).length;
  }

  private isLeaf(key: string, entry: Entry): boolean {
    for (const [other, e] of this.cached) if (e.numPages === entry.numPages + 1 && other.startsWith(key)) return false;
    return true;
  }
}

interface Req { tokens: number[]; computed: number; pageTable: number[]; node: RadixNode; lockedKey: string }

/** Drives the real allocator and cache through the engine's ownership model, next to the model. */
class Simulation {
  readonly alloc: PageAllocator;
  readonly cache: RadixCache;
  readonly model: CacheModel;
  readonly live: Req[] = [];

  constructor(readonly s: Scenario) {
    this.alloc = new PageAllocator(s.numPages);
    this.cache = new RadixCache(this.alloc, s.pageSize, { maxPages: s.maxPages });
    this.model = new CacheModel(s.pageSize, s.maxPages ?? Infinity, this);
  }

  isLocked(key: string, extraLock?: string): boolean {
    return (extraLock !== undefined && extraLock.startsWith(key)) || this.live.some((r) => r.lockedKey.startsWith(key));
  }

  numRequestHolders(page: number): number {
    return this.live.filter((r) => r.pageTable.includes(page)).length;
  }

  apply(op: Op): void {
    const req = this.live.length > 0 && 'pick' in op ? this.live[op.pick % this.live.length] : undefined;
    switch (op.kind) {
      case 'admit': return this.admit(op.prompt);
      case 'step': return req && this.step(req, op.chunk, op.token);
      case 'finish': return req && this.finish(req, true);
      case 'abort': return req && this.finish(req, false);
      case 'evict': return void this.evict(op.n);
      case 'probe': return void this.match(op.tokens, op.tokens.length - op.slack);
      case 'clear':
        this.cache.clear();
        this.model.clear();
        return;
    }
  }

  private match(tokens: number[], maxTokens: number): { node: RadixNode; pages: number[] } {
    const m = this.cache.match(tokens, maxTokens);
    const expected = this.model.match(tokens, maxTokens);
    same(m.pages, expected, 'match: pages of the longest cached prefix');
    same(m.numTokens, expected.length * this.s.pageSize, 'match: numTokens');
    atMost(m.numTokens, Math.max(0, maxTokens), 'match: numTokens <= maxTokens');
    return m;
  }

  private evict(n: number): number {
    const freed = this.cache.evict(n);
    same(freed, this.model.evict(n, true), 'evict: pages freed');
    return freed;
  }

  /** Allocates n pages, evicting first if short; returns undefined (having changed nothing else) if they cannot be had. */
  private allocateOrEvict(n: number, held: number[]): number[] | undefined {
    if (!this.alloc.canAllocate(n)) this.evict(n - this.alloc.numFree);
    if (this.alloc.canAllocate(n)) return this.alloc.allocate(n);
    const before = held.map((p) => this.alloc.refCount(p));
    expect(() => this.alloc.allocate(n)).toThrow(CapacityError);
    same(held.map((p) => this.alloc.refCount(p)), before, 'failed allocation: matched pages untouched');
    return undefined;
  }

  private admit(prompt: number[]): void {
    if (this.live.length >= MAX_LIVE) return;
    const { pageSize } = this.s;
    const m = this.match(prompt, prompt.length - 1);
    this.cache.lock(m.node);
    for (const p of m.pages) this.alloc.retain(p);
    const req: Req = { tokens: prompt, computed: m.pages.length * pageSize, pageTable: [...m.pages], node: m.node, lockedKey: keyOf(prompt, m.pages.length * pageSize) };
    this.live.push(req);
    const own = this.allocateOrEvict(Math.ceil(prompt.length / pageSize) - m.pages.length, m.pages);
    if (own === undefined) return this.finish(req, false);
    req.pageTable.push(...own);
  }

  /** One compute step: a prefill chunk, or (fully computed) sample a token and grow the page table. */
  private step(req: Req, chunk: number, token: number): void {
    if (req.computed === req.tokens.length) {
      if (req.tokens.length >= this.s.maxLen) return;
      req.tokens = [...req.tokens, token];
      if (req.tokens.length > req.pageTable.length * this.s.pageSize) {
        const page = this.allocateOrEvict(1, req.pageTable);
        if (page === undefined) return this.finish(req, false); // preempted
        req.pageTable.push(...page);
      }
      return;
    }
    req.computed = Math.min(req.tokens.length, req.computed + chunk);
    this.publish(req);
  }

  private publish(req: Req): void {
    const computed = req.tokens.slice(0, req.computed);
    const { node, numNewPages, pages } = this.cache.insert(computed, req.pageTable);
    const expected = this.model.insert(computed, req.pageTable);
    same(numNewPages, expected.numNewPages, 'insert: numNewPages');
    same(pages, this.model.pagesOf(computed, expected.pathPages), 'insert: the cached path\'s pages');
    this.cache.lock(node);
    this.cache.unlock(req.node);
    req.node = node;
    req.lockedKey = keyOf(computed, expected.pathPages * this.s.pageSize);
  }

  private finish(req: Req, publish: boolean): void {
    if (publish) this.publish(req);
    this.cache.unlock(req.node);
    this.alloc.release(req.pageTable);
    this.live.splice(this.live.indexOf(req), 1);
  }

  checkInvariants(): void {
    const { alloc, cache, model } = this;
    alloc.checkIntegrity();
    cache.checkIntegrity();
    // Expected holders of each page: one per request whose page table has it, one if the model caches it.
    const requestHolders = new Array<number>(alloc.numPages).fill(0);
    for (const req of this.live) for (const page of req.pageTable) requestHolders[page]++;
    const isCached = new Array<boolean>(alloc.numPages).fill(false);
    for (const entry of model.cached.values()) isCached[entry.page] = true;
    let heldByRequests = 0, cachedOnly = 0;
    const wrong: string[] = [];
    for (let page = 0; page < alloc.numPages; page++) {
      const expected = requestHolders[page] + (isCached[page] ? 1 : 0);
      if (alloc.refCount(page) !== expected) wrong.push(`page ${page}: refcount ${alloc.refCount(page)}, holders ${expected}`);
      if (requestHolders[page] > 0) heldByRequests++;
      else if (isCached[page]) cachedOnly++;
    }
    same(wrong.length, 0, `refcount != holders: ${wrong.join('; ')}`);
    same(alloc.numFree + heldByRequests + cachedOnly, alloc.numPages, 'free + held by requests + cached only = total');
    same(cache.numCachedPages, model.cached.size, 'numCachedPages');
    same(cache.numEvictablePages, model.numUnlocked(), 'numEvictablePages');
    same(cache.stats().evictions, model.numEvicted, 'stats().evictions');
    atMost(cache.numCachedPages, this.s.maxPages ?? Infinity, 'numCachedPages <= maxPages');
  }

  /** All requests gone: everything cached is evictable, every model prefix matches, clear frees the pool. */
  drain(): void {
    while (this.live.length > 0) this.finish(this.live[0], false);
    this.checkInvariants();
    expect(this.alloc.numFree + this.cache.numEvictablePages).toBe(this.alloc.numPages);
    for (const [key, entry] of [...this.model.cached]) {
      const tokens = key.split(',').slice(0, -1).map(Number);
      expect(this.cache.match(tokens, tokens.length).pages.length).toBe(entry.numPages);
      expect(this.cache.match(tokens, tokens.length).pages.at(-1)).toBe(entry.page);
    }
    this.cache.clear();
    this.model.clear();
    this.checkInvariants();
    expect(this.alloc.numFree).toBe(this.alloc.numPages);
    expect(this.cache.stats().nodes).toBe(0);
  }
}

describe('RadixCache (property, simulated requests against a brute-force model)', () => {
  it('holds every invariant after every operation', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const sim = new Simulation(scenario);
        for (const op of scenario.ops) {
          sim.apply(op);
          sim.checkInvariants();
        }
        sim.drain();
      }),
      { numRuns: runs(800) },
    );
  });
});
