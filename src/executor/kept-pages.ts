/**
 * The executor's side of kept sequences (StepInput.seqIds) for JS executors (the
 * simulator) and step observers (bench profilers): each kept sequence's page table and
 * where its last run ended. apply() checks a step's deltas as the native executor does
 * (native/src/seq_state.cpp) before it changes anything, then returns every sequence's
 * whole page table. Penalty counts are not kept here (the simulator samples no logits).
 */
import { ExecutorError } from '../errors.js';
import { IdSet } from '../scheduler/id-set.js';
import type { ExecutorInfo, StepInput } from './step.js';

interface KeptSequence {
  pages: number[];
  numFed: number;
}

export class KeptPageTables {
  private readonly live = new Map<number, KeptSequence>();
  /** The step's ids, and those it releases (reused: a step allocates nothing here but new sequences' records). */
  private readonly inStep = new IdSet();
  private readonly released = new IdSet();
  /** (step's sequences) each one's record as the check found it; undefined = new. */
  private found: Array<KeptSequence | undefined> = [];

  constructor(private readonly info: Pick<ExecutorInfo, 'numPages' | 'pageSize'>) {}

  get numKept(): number {
    return this.live.size;
  }

  /** Each sequence's whole page table after the step's deltas; throws ExecutorError (nothing changed) on a bad delta. */
  apply(input: StepInput): ArrayLike<number>[] {
    const numSeqs = input.seqStart.length - 1;
    const { seqIds, seqIsNew, pageKeep, pageTable, pageStart } = input;
    if (!seqIds) return Array.from({ length: numSeqs }, (_, s) => pageTable.subarray(pageStart[s], pageStart[s + 1]));
    if (!seqIsNew || !pageKeep || seqIsNew.length !== numSeqs || pageKeep.length !== numSeqs || seqIds.length !== numSeqs) {
      throw new ExecutorError('seqIds, seqIsNew and pageKeep must have nSeq entries', 'ERR_NATIVE_SHAPE');
    }
    const releases = input.releaseSeqs ?? [];
    this.released.clear();
    for (let i = 0; i < releases.length; i++) this.released.addNew(releases[i]);
    this.inStep.clear();
    for (let s = 0; s < numSeqs; s++) if (!this.inStep.addNew(seqIds[s])) throw new ExecutorError('a sequence id appears twice in one step', 'ERR_NATIVE_SEQ');
    const found = this.found;
    found.length = numSeqs;
    for (let s = 0; s < numSeqs; s++) {
      const kept = this.released.has(seqIds[s]) ? undefined : this.live.get(seqIds[s]);
      this.check(input, s, kept);
      found[s] = seqIsNew[s] ? undefined : kept;
    }
    for (let i = 0; i < releases.length; i++) this.live.delete(releases[i]);
    const tables: number[][] = new Array(numSeqs);
    for (let s = 0; s < numSeqs; s++) {
      let kept = found[s];
      if (kept === undefined) {
        kept = { pages: [], numFed: 0 };
        this.live.set(seqIds[s], kept);
      } else {
        kept.pages.length = pageKeep[s];
      }
      for (let j = pageStart[s]; j < pageStart[s + 1]; j++) kept.pages.push(pageTable[j]);
      kept.numFed = input.positions[input.seqStart[s + 1] - 1] + 1;
      tables[s] = kept.pages;
      found[s] = undefined;
    }
    return tables;
  }

  private check(input: StepInput, s: number, kept: KeptSequence | undefined): void {
    const id = input.seqIds![s];
    const first = input.positions[input.seqStart[s]];
    const last = input.positions[input.seqStart[s + 1] - 1];
    let keep = 0;
    if (input.seqIsNew![s]) {
      if (input.pageKeep![s] !== 0) throw new ExecutorError(`pageKeep of new sequence id ${id} must be 0`, 'ERR_NATIVE_SHAPE');
    } else {
      if (!kept) throw new ExecutorError(`sequence id ${id} is not kept by the executor (never started with seqIsNew, or released)`, 'ERR_NATIVE_SEQ');
      if (first !== kept.numFed) throw new ExecutorError(`run of sequence id ${id} starts at position ${first}, its kept state ends at ${kept.numFed}`, 'ERR_NATIVE_POSITION');
      keep = input.pageKeep![s];
      if (keep < 0 || keep > kept.pages.length) throw new ExecutorError(`pageKeep of sequence id ${id} = ${keep} outside [0, ${kept.pages.length}] kept pages`, 'ERR_NATIVE_SHAPE');
    }
    const from = input.pageStart[s];
    const to = input.pageStart[s + 1];
    if (keep + (to - from) < Math.floor(last / this.info.pageSize) + 1) throw new ExecutorError(`page table of sequence id ${id} does not cover position ${last}`, 'ERR_NATIVE_POSITION');
    for (let j = from; j < to; j++) {
      const page = input.pageTable[j];
      if (page < 0 || page >= this.info.numPages) throw new ExecutorError(`page id ${page} outside [0, ${this.info.numPages}) in the page table of sequence id ${id}`, 'ERR_NATIVE_PAGE');
    }
  }
}
