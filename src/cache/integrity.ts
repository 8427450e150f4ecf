/** The radix cache's integrity check: the tree, its counters and the allocator agree. */
import { NanoServingError } from '../errors.js';
import type { PageAllocator } from '../pages/allocator.js';
import { allNodes, pageKey, type TreeNode } from './tree-node.js';

export function checkTree(
  root: TreeNode, pageSize: number, allocator: PageAllocator, isCached: Uint8Array,
  expected: { numPages: number; numUnlockedPages: number; numNodes: number },
): void {
  const seen = new Uint8Array(allocator.numPages);
  let numPages = 0, numUnlockedPages = 0, numNodes = 0;
  for (const node of allNodes(root)) {
    let childLocks = 0;
    for (const [key, child] of node.children) {
      if (child.parent !== node) corrupt('a child does not point back to its parent');
      if (key !== pageKey(child.tokens, 0, pageSize)) corrupt('a child is keyed by another first page');
      if (child.lastAccess > node.lastAccess) corrupt('a node is more recently used than its parent');
      childLocks += child.lockRef;
    }
    if (node.lockRef < childLocks) corrupt(`a node's lock ${node.lockRef} is below its children's sum ${childLocks}`);
    if (node === root) {
      if (node.pages.length !== 0 || node.parent !== null) corrupt('the root holds pages or has a parent');
      continue;
    }
    if (node.pages.length < 1) corrupt('a node holds no page');
    if (node.tokens.length !== node.pages.length * pageSize) corrupt(`a node has ${node.tokens.length} tokens for ${node.pages.length} pages`);
    for (const page of node.pages) {
      if (!Number.isInteger(page) || page < 0 || page >= allocator.numPages) corrupt(`invalid page id ${page}`);
      if (seen[page]) corrupt(`page ${page} is in two nodes`);
      if (allocator.refCount(page) < 1) corrupt(`cached page ${page} is free in the allocator`);
      if (!isCached[page]) corrupt(`cached page ${page} is not flagged as cached`);
      seen[page] = 1;
    }
    numNodes++;
    numPages += node.pages.length;
    if (node.lockRef === 0) numUnlockedPages += node.pages.length;
  }
  if (isCached.reduce((sum, flag) => sum + flag, 0) !== numPages) corrupt('a page is flagged as cached but is in no node');
  const counted = { numPages, numUnlockedPages, numNodes };
  for (const name of ['numPages', 'numUnlockedPages', 'numNodes'] as const) {
    if (counted[name] !== expected[name]) corrupt(`${name} is ${expected[name]} but the tree has ${counted[name]}`);
  }
}

export function corrupt(message: string): never {
  throw new NanoServingError('ERR_INTEGRITY', `radix cache: ${message}`);
}
