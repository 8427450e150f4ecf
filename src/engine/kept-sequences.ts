/**
 * The engine's record of what the executor keeps per request between steps (StepInput
 * seqIds): whether it knows the request, and how many leading entries of its page table it
 * holds. A step then sends only new pages (or a replaced tail) and, for a request with
 * penalties, its tokens once when it starts; the executor counts the tokens it is fed.
 * A request that lets go of its pages (finish, abort, preemption) is forgotten by the
 * executor at the next step (releaseSeqs), and starts afresh when it runs again.
 * A record changes only once the executor took a step (keep), never while it is written.
 */
import type { RequestSlot } from './request-slot.js';

export class KeptSequences {
  private released: number[] = [];
  private lastDrained: number[] = [];

  /** Pages from `index` on were replaced (the prefix cache's copies): the executor gets them again. */
  invalidateFrom(slot: RequestSlot, index: number): void {
    if (slot.keptPages > index) slot.keptPages = index;
  }

  /** The executor took a step with this request's first `numPages` pages: it keeps them. */
  keep(slot: RequestSlot, numPages: number): void {
    slot.isKept = true;
    slot.keptPages = numPages;
  }

  /** The request let go of its page table: the executor forgets it before the next step. */
  forget(slot: RequestSlot): void {
    if (!slot.isKept) return;
    slot.isKept = false;
    slot.keptPages = 0;
    this.released.push(slot.id);
  }

  /** Releases an id with the next step whether or not the executor keeps it (a no-op if it does not). */
  releaseId(id: number): void {
    this.released.push(id);
  }

  /** Ids to release in the step being written (kept until the step is known to have been taken). */
  drain(): number[] {
    this.lastDrained = this.released;
    this.released = [];
    return this.lastDrained;
  }

  /** The step carrying the last drained releases was taken. */
  stepTaken(): void {
    this.lastDrained = [];
  }

  /**
   * The step was refused or failed: its releases are sent again with the next one (releasing
   * an id the executor does not keep is a no-op, so this is safe whether or not it took them).
   */
  stepFailed(): void {
    if (this.lastDrained.length > 0) this.released.push(...this.lastDrained);
    this.lastDrained = [];
  }
}
