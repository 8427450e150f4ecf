/** A binary min-heap of [stamp, item] entries with lazy deletion: pop skips entries the caller says are stale. */
export class LruHeap<T> {
  private entries_: Array<[number, T]> = [];

  get size(): number {
    return this.entries_.length;
  }

  entries(): Array<[number, T]> {
    return [...this.entries_];
  }

  push(stamp: number, item: T): void {
    const heap = this.entries_;
    let i = heap.push([stamp, item]) - 1;
    while (i > 0 && heap[(i - 1) >> 1][0] > heap[i][0]) {
      [heap[i], heap[(i - 1) >> 1]] = [heap[(i - 1) >> 1], heap[i]];
      i = (i - 1) >> 1;
    }
  }

  /** Removes and returns the live item with the smallest stamp, dropping stale entries on the way. */
  pop(isLive: (item: T, stamp: number) => boolean): T | undefined {
    const heap = this.entries_;
    while (heap.length > 0) {
      const [stamp, item] = heap[0];
      const last = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = last;
        this.siftDown(0);
      }
      if (isLive(item, stamp)) return item;
    }
    return undefined;
  }

  clear(): void {
    this.entries_ = [];
  }

  rebuild(entries: Array<[number, T]>): void {
    this.entries_ = entries;
    for (let i = (entries.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private siftDown(i: number): void {
    const heap = this.entries_;
    for (;;) {
      let least = i;
      for (const child of [2 * i + 1, 2 * i + 2]) if (child < heap.length && heap[child][0] < heap[least][0]) least = child;
      if (least === i) return;
      [heap[i], heap[least]] = [heap[least], heap[i]];
      i = least;
    }
  }
}
