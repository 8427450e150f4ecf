import { describe, it, expect } from 'vitest';
import { PageAllocator } from '../../src/pages/allocator.js';
import { RadixCache, type RadixNode } from '../../src/cache/radix.js';
import { CapacityError, NanoServingError } from '../../src/errors.js';

const PS = 4;

/** tokens [start, start+n) */
function run(n: number, start = 0): number[] {
  return Array.from({ length: n }, (_, i) => start + i);
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof NanoServingError ? err.code : `not a NanoServingError: ${String(err)}`;
  }
  return undefined;
}

function setup(numPages = 16, pageSize = PS, maxPages?: number) {
  const alloc = new PageAllocator(numPages);
  const cache = new RadixCache(alloc, pageSize, { maxPages });
  const check = (): void => {
    alloc.checkIntegrity();
    cache.checkIntegrity();
  };
  /** A finished request: its pages go into the cache and its own references are dropped. */
  const cacheOnly = (tokens: number[]): number[] => {
    const pages = alloc.allocate(Math.ceil(tokens.length / pageSize));
    cache.insert(tokens, pages);
    alloc.release(pages);
    return pages;
  };
  return { alloc, cache, check, cacheOnly };
}

describe('RadixCache: match and insert', () => {
  it('an empty cache matches nothing and hands back the root, which locks', () => {
    const { cache, check } = setup();
    const m = cache.match(run(10), 9);
    expect(m.pages).toEqual([]);
    expect(m.numTokens).toBe(0);
    cache.lock(m.node);
    cache.unlock(m.node);
    check();
  });

  it('matches an exact cached prompt, capped by maxTokens', () => {
    const { alloc, cache, check } = setup();
    const tokens = run(12);
    const pages = alloc.allocate(3);
    expect(cache.insert(tokens, pages).numNewPages).toBe(3);
    expect(pages.map((p) => alloc.refCount(p))).toEqual([2, 2, 2]);
    expect(cache.match(tokens, 12)).toMatchObject({ pages, numTokens: 12 });
    // The caller passes promptLen - 1: the whole prompt never matches, one token is always computed.
    expect(cache.match(tokens, 11)).toMatchObject({ pages: pages.slice(0, 2), numTokens: 8 });
    expect(cache.match(tokens, 0).pages).toEqual([]);
    expect(cache.numCachedPages).toBe(3);
    check();
  });

  it('caches and matches only full pages (35 tokens, page size 16)', () => {
    const { alloc, cache, check } = setup(8, 16);
    const prompt = run(35);
    const pages = alloc.allocate(3);
    expect(cache.insert(prompt, pages).numNewPages).toBe(2);
    expect(alloc.refCount(pages[2])).toBe(1); // the partial page is not taken
    expect(cache.match(prompt, 34).numTokens).toBe(32);
    expect(cache.match(prompt, 35).numTokens).toBe(32);
    expect(cache.match(prompt, 31).numTokens).toBe(16);
    // A 32-token prompt fully cached still leaves its last page to compute with maxTokens = 31.
    expect(cache.match(prompt.slice(0, 32), 31)).toMatchObject({ pages: [pages[0]], numTokens: 16 });
    check();
  });

  it('matches the longest shared prefix and splits the node the match ends inside', () => {
    const { alloc, cache, check } = setup();
    const pages = alloc.allocate(3);
    const inserted = cache.insert(run(12), pages).node;
    expect(cache.stats().nodes).toBe(1);
    const query = [...run(8), 99, 99, 99, 99, 5];
    const m = cache.match(query, query.length - 1);
    expect(m).toMatchObject({ pages: pages.slice(0, 2), numTokens: 8 });
    expect(cache.stats().nodes).toBe(2);
    check();
    // The node returned before the split still denotes the whole 3-page prefix.
    cache.lock(inserted);
    alloc.release(pages);
    expect(cache.evict(100)).toBe(0);
    expect(cache.match(run(12), 12).pages).toEqual(pages);
    cache.unlock(inserted);
    expect(cache.evict(100)).toBe(3);
    check();
  });

  it('keeps diverging prompts on separate branches of a shared page', () => {
    const { alloc, cache, check } = setup();
    const a = [...run(4), 10, 11, 12, 13];
    const b = [...run(4), 20, 21, 22, 23];
    const pa = alloc.allocate(2);
    cache.insert(a, pa);
    // b reuses a's first page (as a request that matched it would) and brings its own second page.
    const pb = [pa[0], ...alloc.allocate(1)];
    expect(cache.insert(b, pb).numNewPages).toBe(1);
    expect(cache.match(a, 8).pages).toEqual(pa);
    expect(cache.match(b, 8).pages).toEqual(pb);
    expect(cache.match([...run(4), 30, 31, 32, 33], 8).pages).toEqual([pa[0]]);
    expect(cache.stats()).toEqual({ cachedPages: 3, evictions: 0, nodes: 3 });
    check();
  });

  it('a duplicate insert keeps the first pages and retains nothing new', () => {
    const { alloc, cache, check } = setup();
    const tokens = run(8);
    const first = alloc.allocate(2);
    const second = alloc.allocate(2);
    cache.insert(tokens, first);
    expect(cache.insert(tokens, second)).toMatchObject({ numNewPages: 0, pages: first });
    expect(second.map((p) => alloc.refCount(p))).toEqual([1, 1]);
    expect(cache.match(tokens, 8).pages).toEqual(first);
    // An extension of a cached prefix takes only the new tail.
    const longer = [...second, ...alloc.allocate(1)];
    expect(cache.insert(run(12), longer)).toMatchObject({ numNewPages: 1, pages: [...first, longer[2]] });
    expect(longer.map((p) => alloc.refCount(p))).toEqual([1, 1, 2]);
    expect(cache.match(run(12), 12).pages).toEqual([...first, longer[2]]);
    check();
  });

  it('rejects bad inserts before taking any page', () => {
    const { alloc, cache, check } = setup();
    const pages = alloc.allocate(2);
    expect(codeOf(() => cache.insert(run(12), pages))).toBe('ERR_INVALID_ARGUMENT');   // 3 full pages, 2 ids
    expect(codeOf(() => cache.insert(run(8), [pages[0], 9]))).toBe('ERR_INVALID_ARGUMENT'); // page 9 is free
    expect(codeOf(() => cache.insert(run(8), [pages[0], pages[0]]))).toBe('ERR_INVALID_ARGUMENT');
    cache.insert(run(4), [pages[0]]);
    // pages[0] is cached under run(4); it cannot also go under another prefix.
    expect(codeOf(() => cache.insert(run(4, 50), [pages[0]]))).toBe('ERR_INVALID_ARGUMENT');
    expect(cache.numCachedPages).toBe(1);
    expect(alloc.refCount(pages[1])).toBe(1);
    check();
  });
});

describe('RadixCache: locks and eviction', () => {
  it('lock and unlock count along the whole path', () => {
    const { alloc, cache, check, cacheOnly } = setup();
    cacheOnly(run(8));
    const pages = alloc.allocate(1);
    const deep = cache.insert(run(12), [...cache.match(run(12), 12).pages, ...pages]).node;
    alloc.release(pages);
    cacheOnly(run(4, 100));
    expect(cache.numEvictablePages).toBe(4);
    cache.lock(deep);
    cache.lock(deep);
    expect(cache.numEvictablePages).toBe(1); // only the other branch
    expect(cache.evict(100)).toBe(1);
    cache.unlock(deep);
    expect(cache.evict(100)).toBe(0);
    cache.unlock(deep);
    expect(codeOf(() => cache.unlock(deep))).toBe('ERR_CACHE_STATE');
    expect(cache.numEvictablePages).toBe(3);
    check();
  });

  it('evicts unlocked leaves least recently used first', () => {
    const { alloc, cache, check, cacheOnly } = setup();
    const x = cacheOnly(run(4, 0));
    const y = cacheOnly(run(4, 10));
    const z = cacheOnly(run(4, 20));
    cache.match(run(4, 0), 4); // x is now the most recently used
    expect(cache.evict(1)).toBe(1);
    expect(alloc.refCount(y[0])).toBe(0);
    expect(cache.evict(1)).toBe(1);
    expect(alloc.refCount(z[0])).toBe(0);
    expect(cache.match(run(4, 0), 4).pages).toEqual(x);
    expect(cache.evict(5)).toBe(1);
    expect(cache.stats()).toEqual({ cachedPages: 0, evictions: 3, nodes: 0 });
    expect(alloc.numFree).toBe(16);
    check();
  });

  it('evicts a leaf from its tail, keeping its head cached', () => {
    const { alloc, cache, check, cacheOnly } = setup();
    const pages = cacheOnly(run(12));
    expect(cache.evict(1)).toBe(1);
    expect(alloc.refCount(pages[2])).toBe(0);
    expect(cache.match(run(12), 12).pages).toEqual(pages.slice(0, 2));
    expect(cache.numCachedPages).toBe(2);
    check();
  });

  it('never evicts a node that has children before them, nor a locked node', () => {
    const { alloc, cache, check, cacheOnly } = setup();
    const head = cacheOnly(run(4));
    const tail = cacheOnly(run(8)).slice(1); // child of head
    cache.match(run(4), 4);                   // head more recent than its child; the child is still the leaf
    expect(cache.evict(1)).toBe(1);
    expect(alloc.refCount(tail[0])).toBe(0);
    expect(alloc.refCount(head[0])).toBe(1);
    const m = cache.match(run(4), 4);
    cache.lock(m.node);
    expect(cache.evict(1)).toBe(0);
    expect(cache.numEvictablePages).toBe(0);
    cache.unlock(m.node);
    expect(cache.evict(1)).toBe(1);
    check();
  });

  it('counts only pages actually freed when a request still holds an unlocked page', () => {
    const { alloc, cache, check } = setup();
    const pages = alloc.allocate(2);
    cache.insert(run(8), pages);
    alloc.release([pages[1]]); // the caller keeps pages[0] without a lock (outside the ownership model)
    expect(cache.evict(2)).toBe(1);
    expect(cache.numCachedPages).toBe(0);
    expect(alloc.refCount(pages[0])).toBe(1);
    check();
  });

  it('a failed allocation after match leaves the matched pages untouched', () => {
    const { alloc, cache, check, cacheOnly } = setup(4);
    cacheOnly(run(8));
    const prompt = run(20);
    const m = cache.match(prompt, prompt.length - 1);
    cache.lock(m.node);
    for (const p of m.pages) alloc.retain(p);
    expect(() => alloc.allocate(3)).toThrow(CapacityError);
    expect(m.pages.map((p) => alloc.refCount(p))).toEqual([2, 2]);
    expect(cache.numCachedPages).toBe(2);
    expect(cache.evict(2)).toBe(0); // locked
    check();
    // The request gives up: unlock and release; at idle free + evictable == total.
    cache.unlock(m.node);
    alloc.release(m.pages);
    expect(alloc.numFree + cache.numEvictablePages).toBe(4);
    check();
  });

  it('rejects a node that was evicted or belongs to another cache', () => {
    const { alloc, cache, cacheOnly } = setup();
    cacheOnly(run(4));
    const stale = cache.match(run(4), 4).node;
    cache.evict(1);
    expect(codeOf(() => cache.lock(stale))).toBe('ERR_CACHE_STATE');
    const other = new RadixCache(alloc, PS);
    expect(codeOf(() => other.lock(cache.match([], 0).node))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => cache.lock({} as RadixNode))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => cache.evict(-1))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new RadixCache(alloc, 0))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('RadixCache: maxPages, clear, integrity', () => {
  it('evicts LRU pages to stay under maxPages, then caches only what fits', () => {
    const { alloc, cache, check, cacheOnly } = setup(16, PS, 3);
    cacheOnly(run(8, 0));
    cacheOnly(run(8, 100));
    expect(cache.numCachedPages).toBe(3);
    expect(cache.stats().evictions).toBe(1);
    expect(cache.match(run(8, 0), 8).pages).toHaveLength(1);  // the older prompt lost its tail
    expect(cache.match(run(8, 100), 8).pages).toHaveLength(2);
    // With everything locked, an insert caches only what fits: nothing here.
    const m = cache.match(run(8, 100), 8);
    cache.lock(m.node);
    cache.lock(cache.match(run(4, 0), 4).node);
    const pages = alloc.allocate(2);
    const r = cache.insert(run(8, 200), pages);
    expect(r.numNewPages).toBe(0);
    expect(cache.numCachedPages).toBe(3);
    alloc.release(pages);
    check();
  });

  it('clear drops every unlocked node and keeps locked paths', () => {
    const { alloc, cache, check, cacheOnly } = setup();
    cacheOnly(run(12));
    cacheOnly(run(8, 50));
    const m = cache.match(run(12), 8);
    cache.lock(m.node);
    cache.clear();
    expect(cache.numCachedPages).toBe(2);
    expect(cache.match(run(12), 12).pages).toEqual(m.pages);
    check();
    cache.unlock(m.node);
    cache.clear();
    expect(alloc.numFree).toBe(16);
    expect(cache.stats()).toEqual({ cachedPages: 0, evictions: 0, nodes: 0 });
    check();
  });

  it('checkIntegrity detects corrupted state', () => {
    type Node = { lockRef: number; pages: number[]; tokens: Int32Array; children: Map<string, Node> };
    const corruptWith = (mutate: (root: Node, alloc: PageAllocator) => void): void => {
      const { alloc, cache, cacheOnly } = setup();
      cacheOnly(run(8));
      cacheOnly(run(8, 50));
      mutate((cache as unknown as { tree: { root: Node } }).tree.root, alloc);
      expect(codeOf(() => cache.checkIntegrity())).toBe('ERR_INTEGRITY');
    };
    const kids = (root: Node): Node[] => [...root.children.values()];
    corruptWith((root) => { root.lockRef = -1; });
    corruptWith((root) => { kids(root)[0].lockRef = 1; });                             // parent lock below the children's
    corruptWith((root) => { kids(root)[0].pages.push(99); });                           // tokens != pages * pageSize
    corruptWith((root) => { kids(root)[1].pages[0] = kids(root)[0].pages[0]; });        // a page in two nodes
    corruptWith((root, alloc) => { alloc.release([kids(root)[0].pages[0]]); });          // cached page freed behind the cache's back
  });
});

describe('RadixCache: scale', () => {
  it('evicts thousands of leaves in LRU order quickly, with the lazy heap kept bounded', () => {
    const n = 3000;
    const { alloc, cache, cacheOnly } = setup(n);
    const prompts = Array.from({ length: n }, (_, i) => [i, i, i, i]);
    const pageOf = prompts.map((p) => cacheOnly(p)[0]);
    // Touch every prompt many times in a scrambled order; the last touch decides the LRU order.
    const order = Array.from({ length: n }, (_, i) => (i * 1237) % n);
    for (let round = 0; round < 5; round++) for (const i of order) cache.match(prompts[i], 4);
    expect((cache as unknown as { lru: { size: number } }).lru.size).toBeLessThanOrEqual(2 * n + 64);
    cache.checkIntegrity();
    const started = performance.now();
    for (const i of order) {
      expect(cache.evict(1)).toBe(1);
      if (alloc.refCount(pageOf[i]) !== 0) expect.fail(`prompt ${i} was not the least recently used`);
    }
    expect(performance.now() - started).toBeLessThan(1000);
    expect(alloc.numFree).toBe(n);
  });
});

describe('RadixCache: the engine ownership model', () => {
  it('two requests sharing a prefix, chunked prefill, finish: at idle free + evictable == total', () => {
    const { alloc, cache, check } = setup(16);
    type Req = { tokens: number[]; pageTable: number[]; node: RadixNode };
    const admit = (prompt: number[]): Req => {
      const m = cache.match(prompt, prompt.length - 1);
      cache.lock(m.node);
      for (const p of m.pages) alloc.retain(p);
      const own = alloc.allocate(Math.ceil(prompt.length / PS) - m.pages.length);
      return { tokens: prompt, pageTable: [...m.pages, ...own], node: m.node };
    };
    const commit = (req: Req, numComputed: number): void => {
      const { node } = cache.insert(req.tokens.slice(0, numComputed), req.pageTable);
      cache.lock(node);
      cache.unlock(req.node);
      req.node = node;
    };
    const finish = (req: Req): void => {
      cache.unlock(req.node);
      alloc.release(req.pageTable);
    };

    const a = admit(run(14));
    commit(a, 8);   // first prefill chunk
    commit(a, 14);  // second chunk: 3 full pages cached
    check();
    const b = admit([...run(12), 7, 7, 7, 7, 7]);
    expect(b.pageTable.slice(0, 3)).toEqual(a.pageTable.slice(0, 3));
    expect(cache.evict(100)).toBe(0); // everything cached is in use
    commit(b, 17);
    finish(a);
    check();
    finish(b);
    check();
    expect(alloc.numFree + cache.numEvictablePages).toBe(16);
    cache.clear();
    expect(alloc.numFree).toBe(16);
  });
});

describe('RadixCache: peek is read-only', () => {
  it('finds what match finds, without splitting a node or touching the LRU order', () => {
    const { cache, check, cacheOnly } = setup(16);
    const a = cacheOnly(run(12)); // one node of 3 pages
    const b = cacheOnly(run(8, 100)); // another node, older in LRU than nothing touched yet
    const nodesBefore = cache.stats().nodes;
    const peeked = cache.peek([...run(8), 50, 51, 52, 53], 12);
    expect(peeked).toEqual({ numTokens: 8, pages: a.slice(0, 2) });
    expect(cache.stats().nodes).toBe(nodesBefore); // match would split the 3-page node here
    expect(cache.peek(run(12), 11)).toEqual({ numTokens: 8, pages: a.slice(0, 2) });
    expect(cache.peek(run(9, 100), 9).pages).toEqual(b);
    // LRU untouched: evicting three pages still takes the least recently inserted leaf (a's).
    cache.evict(3);
    expect(cache.peek(run(12), 12).numTokens).toBe(0);
    expect(cache.peek(run(8, 100), 8).pages).toEqual(b);
    const matched = cache.match(run(8, 100), 8);
    expect(matched.pages).toEqual(b);
    check();
  });
});
