/**
 * A set of request ids for one pass over a plan (clear, then addNew per id), reused from
 * plan to plan: open addressing in typed arrays, emptied in O(1) by bumping a generation,
 * so a step's check allocates nothing once the table has grown to the batch (a Set of 256
 * ids costs ~12 µs a step to build). Ids outside [0, 2^31) (a broken policy's) go to a Set.
 */
const EMPTY_SLOT = 0;

export class IdSet {
  private keys = new Int32Array(64);       // [capacity] id of the entry
  private stamps = new Uint32Array(64);    // [capacity] generation the entry belongs to; older = empty
  private generation = 1;
  private size = 0;
  private odd: Set<number> | undefined;    // ids that are not small non-negative integers

  /** Empties the set. */
  clear(): void {
    this.size = 0;
    this.odd = undefined;
    if (++this.generation === 0xffffffff) {
      this.stamps.fill(EMPTY_SLOT);
      this.generation = 1;
    }
  }

  /** Adds id; false when it was in the set already. */
  addNew(id: number): boolean {
    if (!Number.isInteger(id) || id < 0 || id > 0x7fffffff) {
      this.odd ??= new Set();
      if (this.odd.has(id)) return false;
      this.odd.add(id);
      return true;
    }
    if (2 * (this.size + 1) > this.keys.length) this.grow();
    const mask = this.keys.length - 1;
    for (let at = Math.imul(id, 0x9e3779b1) & mask; ; at = (at + 1) & mask) {
      if (this.stamps[at] !== this.generation) {
        this.stamps[at] = this.generation;
        this.keys[at] = id;
        this.size++;
        return true;
      }
      if (this.keys[at] === id) return false;
    }
  }

  has(id: number): boolean {
    if (!Number.isInteger(id) || id < 0 || id > 0x7fffffff) return this.odd?.has(id) ?? false;
    const mask = this.keys.length - 1;
    for (let at = Math.imul(id, 0x9e3779b1) & mask; this.stamps[at] === this.generation; at = (at + 1) & mask) {
      if (this.keys[at] === id) return true;
    }
    return false;
  }

  private grow(): void {
    const { keys, stamps, generation } = this;
    this.keys = new Int32Array(keys.length * 2);
    this.stamps = new Uint32Array(keys.length * 2);
    this.size = 0;
    const odd = this.odd;
    for (let i = 0; i < keys.length; i++) if (stamps[i] === generation) this.addNew(keys[i]);
    this.odd = odd;
  }
}
