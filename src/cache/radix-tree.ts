/**
 * The shape of the radix cache: a tree over page-aligned token runs, walked page by page.
 * It knows token runs, page ids, node counts and the use stamps of the walks; what a page
 * reference, a lock or an eviction means is the cache's (radix.ts).
 *
 * - every non-root node holds >= 1 full page: tokens.length == pages.length * pageSize, so
 *   every node starts at a page-aligned offset; siblings differ in their first page;
 * - a walk that may change the tree (descend) stamps its whole root path with one tick of
 *   the logical clock, so a node is never more recently used than its parent;
 * - a split always creates the new node as the upper part: a node a caller holds keeps
 *   denoting the same full prefix.
 */
import { allNodes, pageKey, TreeNode } from './tree-node.js';

export class RadixTree {
  readonly root: TreeNode;
  /** The logical clock: one tick per descend. */
  clock = 0;
  numNodes = 0; // excluding the root

  constructor(owner: object, readonly pageSize: number) {
    this.root = new TreeNode(owner, null, new Int32Array(0), [], 0);
  }

  /** Read-only: the pages of the longest cached prefix of tokens up to numPages pages. Splits nothing, stamps nothing. */
  peek(tokens: ArrayLike<number>, numPages: number): number[] {
    const pages: number[] = [];
    let node = this.root;
    while (pages.length < numPages) {
      const child = node.children.get(pageKey(tokens, pages.length * this.pageSize, this.pageSize));
      if (child === undefined) break;
      const numSame = this.countSamePages(child, tokens, pages.length, numPages - pages.length);
      for (let i = 0; i < numSame; i++) pages.push(child.pages[i]);
      if (numSame < child.pages.length) break;
      node = child;
    }
    return pages;
  }

  /** Walks the longest cached prefix of tokens up to numPages pages, splitting the node it ends inside, and stamps the path with a new clock tick. */
  descend(tokens: ArrayLike<number>, numPages: number): { node: TreeNode; pages: number[] } {
    const now = ++this.clock;
    const pages: number[] = [];
    let node = this.root;
    node.lastAccess = now;
    while (pages.length < numPages) {
      const child = node.children.get(pageKey(tokens, pages.length * this.pageSize, this.pageSize));
      if (child === undefined) break;
      const numSame = this.countSamePages(child, tokens, pages.length, numPages - pages.length);
      node = numSame < child.pages.length ? this.split(child, numSame) : child;
      node.lastAccess = now;
      for (const page of node.pages) pages.push(page);
      if (node !== child) break;
    }
    return { node, pages };
  }

  /** Hangs a new leaf holding tokens[from, from + pages.length * pageSize) under parent, stamped with the current tick. */
  addLeaf(parent: TreeNode, tokens: ArrayLike<number>, from: number, pages: number[]): TreeNode {
    const run = new Int32Array(pages.length * this.pageSize);
    for (let i = 0; i < run.length; i++) run[i] = tokens[from + i];
    const leaf = new TreeNode(parent.cache, parent, run, pages, this.clock);
    parent.children.set(pageKey(run, 0, this.pageSize), leaf);
    this.numNodes++;
    return leaf;
  }

  /** Unlinks a node from its parent (countNode: it leaves the node count). */
  detach(node: TreeNode, countNode = true): void {
    node.parent!.children.delete(pageKey(node.tokens, 0, this.pageSize));
    node.parent = null;
    if (countNode) this.numNodes--;
  }

  /** Cuts a leaf's pages from `keep` on (its tail); the head stays in the tree. */
  truncate(leaf: TreeNode, keep: number): void {
    leaf.pages.length = keep;
    leaf.tokens = leaf.tokens.slice(0, keep * this.pageSize);
  }

  nodes(): Generator<TreeNode> {
    return allNodes(this.root);
  }

  /** How many leading pages of node equal tokens from page `firstPage` on, at most `limit` (>= 1: the first page matched by key). */
  private countSamePages(node: TreeNode, tokens: ArrayLike<number>, firstPage: number, limit: number): number {
    const ps = this.pageSize;
    const numPages = Math.min(node.pages.length, limit);
    for (let p = 1; p < numPages; p++) {
      const base = (firstPage + p) * ps;
      for (let i = 0; i < ps; i++) if (node.tokens[p * ps + i] !== tokens[base + i]) return p;
    }
    return numPages;
  }

  /** Splits node after its first numPages pages; returns the new upper node, which takes node's place, lock count and stamp. */
  private split(node: TreeNode, numPages: number): TreeNode {
    const cut = numPages * this.pageSize;
    const parent = node.parent!;
    const upper = new TreeNode(node.cache, parent, node.tokens.slice(0, cut), node.pages.slice(0, numPages), node.lastAccess);
    upper.lockRef = node.lockRef;
    parent.children.set(pageKey(upper.tokens, 0, this.pageSize), upper);
    node.tokens = node.tokens.slice(cut);
    node.pages = node.pages.slice(numPages);
    node.parent = upper;
    upper.children.set(pageKey(node.tokens, 0, this.pageSize), node);
    this.numNodes++;
    return upper;
  }
}
