/** A node of the radix tree: a page-aligned run of tokens and the KV pages holding them. */
export class TreeNode {
  readonly children = new Map<string, TreeNode>(); // keyed by the child's first page of tokens
  lockRef = 0;
  constructor(
    readonly cache: object,          // the RadixCache that owns it
    public parent: TreeNode | null,  // null: the root, or a node removed from the tree
    public tokens: Int32Array,       // [pages.length * pageSize]
    public pages: number[],
    public lastAccess: number,
  ) {}
}

/** Char codes of the key being built (two 16-bit halves per token), reused: building a key allocates only the string. */
const keyCodes: number[] = [];

/** The first page of tokens from `offset`, as a map key: two UTF-16 code units per token (exact for ids < 2^32). */
export function pageKey(tokens: ArrayLike<number>, offset: number, pageSize: number): string {
  keyCodes.length = 2 * pageSize;
  for (let i = 0; i < pageSize; i++) {
    const token = tokens[offset + i];
    keyCodes[2 * i] = token & 0xffff;
    keyCodes[2 * i + 1] = token >>> 16;
  }
  return String.fromCharCode.apply(null, keyCodes);
}

export function* allNodes(top: TreeNode): Generator<TreeNode> {
  const stack = [top];
  while (stack.length > 0) {
    const node = stack.pop()!;
    yield node;
    for (const child of node.children.values()) stack.push(child);
  }
}
