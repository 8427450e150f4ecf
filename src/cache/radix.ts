/**
 * The radix prefix cache: KV page ids on a tree of page-aligned token runs (RadixAttention
 * at page granularity; the tree's shape and walks are radix-tree.ts). It knows token ids
 * and page ids, never requests. This file is what caching means: page references, locks,
 * LRU eviction and the cap.
 *
 * Invariants (checkIntegrity verifies them, with the tree's own):
 * - the cache holds one allocator reference on each cached page; no page is in two nodes;
 * - lock(node) counts +1 on the node and each ancestor, so a node's lock >= the sum of its
 *   children's; a locked node is never evicted, nor is a node with children;
 * - a touch (match, insert) stamps the whole root path with one tick, so no two leaves
 *   share a stamp; a node a caller holds keeps denoting the same prefix while it is locked.
 */
import { NanoServingError } from '../errors.js';
import type { PageAllocator } from '../pages/allocator.js';
import { checkTree, corrupt } from './integrity.js';
import { LruHeap } from './lru-heap.js';
import { RadixTree } from './radix-tree.js';
import { allNodes, TreeNode } from './tree-node.js';

declare const radixNodeBrand: unique symbol;
/** A node of the tree, opaque to callers: lock it, unlock it, hand it back. */
export interface RadixNode {
  readonly [radixNodeBrand]: true;
}

export interface PrefixMatch {
  node: RadixNode;
  pages: number[];
  numTokens: number; // pages.length * pageSize
}

export interface RadixCacheOptions {
  /** Cap on cached pages: an insert beyond it first evicts LRU leaves, then caches only what fits. */
  maxPages?: number;
}

export class RadixCache {
  private readonly tree: RadixTree;
  private readonly maxPages: number;
  private readonly isCached: Uint8Array;       // [allocator.numPages] 1 = the page is in some node
  private readonly lru = new LruHeap<TreeNode>();
  private readonly scratch = [0];
  private numPages = 0;                        // cached pages
  private numUnlockedPages = 0;                // cached pages in nodes with lockRef 0
  private numEvicted = 0;

  constructor(private readonly allocator: PageAllocator, readonly pageSize: number, options: RadixCacheOptions = {}) {
    if (!Number.isInteger(pageSize) || pageSize < 1) invalid(`pageSize must be a positive integer, got ${pageSize}`);
    const maxPages = options.maxPages ?? Infinity;
    if (maxPages !== Infinity && (!Number.isInteger(maxPages) || maxPages < 0)) {
      invalid(`maxPages must be a non-negative integer, got ${maxPages}`);
    }
    this.maxPages = maxPages;
    this.isCached = new Uint8Array(allocator.numPages);
    this.tree = new RadixTree(this, pageSize);
  }

  /** Returns the longest cached page-aligned prefix of `tokens` no longer than maxTokens; splits the node it ends inside and marks the path used. Takes no lock and no page reference. */
  match(tokens: ArrayLike<number>, maxTokens: number): PrefixMatch {
    if (Number.isNaN(maxTokens)) invalid('maxTokens is NaN');
    const limit = Math.max(0, Math.min(tokens.length, maxTokens));
    const { node, pages } = this.touch(tokens, Math.floor(limit / this.pageSize));
    return { node: node as unknown as RadixNode, pages, numTokens: pages.length * this.pageSize };
  }

  /**
   * Read-only: the pages of the longest cached page-aligned prefix of `tokens` no longer
   * than maxTokens. Splits nothing, stamps nothing, takes no lock (for the scheduler's view).
   */
  peek(tokens: ArrayLike<number>, maxTokens: number): { numTokens: number; pages: number[] } {
    if (Number.isNaN(maxTokens)) invalid('maxTokens is NaN');
    const pages = this.tree.peek(tokens, Math.floor(Math.max(0, Math.min(tokens.length, maxTokens)) / this.pageSize));
    return { numTokens: pages.length * this.pageSize, pages };
  }

  /** Every page the cache holds a reference on (for accounting checks). */
  cachedPageIds(): number[] {
    const pages: number[] = [];
    for (const node of this.tree.nodes()) for (const page of node.pages) pages.push(page);
    return pages;
  }

  /** Adds one lock on the node and each ancestor: none of them can be evicted until unlocked. */
  lock(node: RadixNode): void {
    for (let n: TreeNode | null = this.own(node); n !== null; n = n.parent) {
      if (n.lockRef++ === 0) this.numUnlockedPages -= n.pages.length;
    }
  }

  /** Removes one lock from the node and each ancestor; throws (and changes nothing) if the node is not locked. */
  unlock(node: RadixNode): void {
    const start = this.own(node);
    if (start.lockRef < 1) throw new NanoServingError('ERR_CACHE_STATE', 'unlock of a radix node that is not locked');
    for (let n: TreeNode | null = start; n !== null; n = n.parent) {
      if (--n.lockRef === 0) {
        this.numUnlockedPages += n.pages.length;
        this.offer(n);
      }
    }
  }

  /**
   * Caches pages[0, k) under tokens[0, k*pageSize), k = floor(tokens.length / pageSize), retaining only the pages it newly takes.
   * Where a prefix is cached already its pages are kept and the caller's are not retained (the caller
   * still owns them); for the rest the cache retains each new page. Throws (before changing anything but a split) if pages.length < k
   * or a new page is free or cached elsewhere. With maxPages, caches only what fits after evicting LRU
   * leaves, so the returned node may cover fewer than k pages. Returns the path's deepest node, the
   * number of caller pages newly cached, and the cache's pages for that path (the cached ones where
   * they differ from the caller's).
   */
  insert(tokens: ArrayLike<number>, pages: ArrayLike<number>): { node: RadixNode; numNewPages: number; pages: number[] } {
    const numPages = Math.floor(tokens.length / this.pageSize);
    if (pages.length < numPages) invalid(`insert of ${numPages} full pages of tokens with only ${pages.length} page ids`);
    const { node: deepest, pages: existing } = this.touch(tokens, numPages);
    const start = existing.length;
    const fresh = Array.prototype.slice.call(pages, start, numPages) as number[];
    this.checkNewPages(fresh);
    const numNewPages = this.makeRoom(deepest, fresh.length);
    if (numNewPages === 0) return { node: deepest as unknown as RadixNode, numNewPages: 0, pages: existing };

    fresh.length = numNewPages;
    const leaf = this.tree.addLeaf(deepest, tokens, start * this.pageSize, fresh);
    for (const page of fresh) {
      this.allocator.retain(page);
      this.isCached[page] = 1;
    }
    this.numPages += numNewPages;
    this.numUnlockedPages += numNewPages;
    this.offer(leaf);
    return { node: leaf as unknown as RadixNode, numNewPages, pages: [...existing, ...fresh] };
  }

  /**
   * Frees up to numPages pages by evicting unlocked leaves, least recently used first; returns the pages freed.
   * It stops when numPages pages have gone back to the allocator's free list (a page counts only if its
   * refcount reached 0) or nothing is evictable. A leaf is evicted from its tail: when it holds more pages than are still needed, only
   * its last pages go, and its head stays cached. So evict frees exactly min(numPages, evictable) pages.
   */
  evict(numPages: number): number {
    if (!Number.isInteger(numPages) || numPages < 0) invalid(`evict needs a non-negative integer, got ${numPages}`);
    return this.evictLeaves(numPages, true);
  }

  get numCachedPages(): number {
    return this.numPages;
  }

  /**
   * Cached pages in unlocked nodes: what evict can free. This is O(1) and counts pages, not
   * refcounts; it equals "unlocked pages with refcount exactly 1" under the ownership model
   * (whoever holds a reference on a cached page keeps its node locked).
   */
  get numEvictablePages(): number {
    return this.numUnlockedPages;
  }

  /** Drops every unlocked node and releases its pages; locked paths stay. Not counted as evictions. */
  clear(): void {
    const stack = [this.tree.root];
    while (stack.length > 0) {
      const node = stack.pop()!;
      for (const child of [...node.children.values()]) {
        if (child.lockRef > 0) stack.push(child);
        else this.dropSubtree(child);
      }
    }
    this.lru.clear();
  }

  stats(): { cachedPages: number; evictions: number; nodes: number } {
    return { cachedPages: this.numPages, evictions: this.numEvicted, nodes: this.tree.numNodes };
  }

  /** Throws if the tree is inconsistent (see the invariants at the top of this file). */
  checkIntegrity(): void {
    checkTree(this.tree.root, this.pageSize, this.allocator, this.isCached, {
      numPages: this.numPages,
      numUnlockedPages: this.numUnlockedPages,
      numNodes: this.tree.numNodes,
    });
    const queued = new Set(this.lru.entries().filter(([time, node]) => this.isEvictable(node, time)).map(([, node]) => node));
    for (const node of this.tree.nodes()) {
      if (node !== this.tree.root && node.lockRef === 0 && node.children.size === 0 && !queued.has(node)) {
        corrupt('an unlocked leaf is missing from the LRU heap');
      }
    }
  }

  /** The tree's descend (splits where the prefix ends inside a node, stamps the path), then its end node offered to the LRU. */
  private touch(tokens: ArrayLike<number>, numPages: number): { node: TreeNode; pages: number[] } {
    const found = this.tree.descend(tokens, numPages);
    this.offer(found.node);
    return found;
  }

  private checkNewPages(pages: number[]): void {
    for (let i = 0; i < pages.length; i++) {
      const page = pages[i];
      if (this.allocator.refCount(page) < 1) invalid(`insert of free page ${page}`);
      if (this.isCached[page]) invalid(`insert of page ${page}, which the cache already holds elsewhere`);
      if (pages.indexOf(page, i + 1) >= 0) invalid(`insert lists page ${page} twice`);
    }
  }

  /** How many of `wanted` new pages under `parent` fit under maxPages, after evicting LRU leaves off parent's path. */
  private makeRoom(parent: TreeNode, wanted: number): number {
    if (this.numPages + wanted > this.maxPages) {
      this.lock(parent as unknown as RadixNode);
      this.evictLeaves(this.numPages + wanted - this.maxPages, false);
      this.unlock(parent as unknown as RadixNode);
    }
    return Math.max(0, Math.min(wanted, this.maxPages - this.numPages));
  }

  /** Evicts LRU leaves tail-first until `target` pages are gone (countFreedOnly: only those the allocator freed count); returns the count. */
  private evictLeaves(target: number, countFreedOnly: boolean): number {
    let done = 0;
    while (done < target) {
      const leaf = this.lru.pop((node, time) => this.isEvictable(node, time));
      if (leaf === undefined) break;
      let keep = leaf.pages.length;
      while (keep > 0 && done < target) {
        const page = leaf.pages[--keep];
        this.releasePage(page);
        if (!countFreedOnly || this.allocator.refCount(page) === 0) done++;
      }
      const numDropped = leaf.pages.length - keep;
      this.numEvicted += numDropped;
      this.numPages -= numDropped;
      this.numUnlockedPages -= numDropped;
      if (keep === 0) {
        this.detach(leaf);
      } else {
        this.tree.truncate(leaf, keep);
        this.offer(leaf);
      }
    }
    return done;
  }

  /** Removes an unlocked subtree, releasing its pages. */
  private dropSubtree(top: TreeNode): void {
    this.detach(top, false);
    for (const node of allNodes(top)) {
      for (const page of node.pages) this.releasePage(page);
      this.numPages -= node.pages.length;
      this.numUnlockedPages -= node.pages.length;
      this.tree.numNodes--;
      node.parent = null;
    }
  }

  private releasePage(page: number): void {
    this.scratch[0] = page;
    this.allocator.release(this.scratch);
    this.isCached[page] = 0;
  }

  /** Unlinks a node from its parent; the parent, if it is now an unlocked leaf, becomes evictable. */
  private detach(node: TreeNode, countNode = true): void {
    const parent = node.parent!;
    this.tree.detach(node, countNode);
    this.offer(parent);
  }

  /** Queues node for eviction if it is an evictable leaf now; stale entries are skipped when popped. */
  private offer(node: TreeNode): void {
    if (this.isEvictable(node, node.lastAccess)) this.lru.push(node.lastAccess, node);
    if (this.lru.size > 2 * this.tree.numNodes + 64) {
      this.lru.rebuild([...this.tree.nodes()].filter((n) => this.isEvictable(n, n.lastAccess)).map((n) => [n.lastAccess, n]));
    }
  }

  private isEvictable(node: TreeNode, stamp: number): boolean {
    return node.parent !== null && node.lockRef === 0 && node.children.size === 0 && node.lastAccess === stamp;
  }

  private own(handle: RadixNode): TreeNode {
    const node = handle as unknown as TreeNode;
    if (!(node instanceof TreeNode) || node.cache !== this) invalid('not a node of this radix cache');
    if (node !== this.tree.root && node.parent === null) {
      throw new NanoServingError('ERR_CACHE_STATE', 'radix node was evicted or cleared (lock it before anything can evict it)');
    }
    return node;
  }
}

function invalid(message: string): never {
  throw new NanoServingError('ERR_INVALID_ARGUMENT', `radix cache: ${message}`);
}
