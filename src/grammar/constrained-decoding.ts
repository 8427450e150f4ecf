/**
 * The engine's side of constrained decoding: one grammar state per constrained request, the
 * allowed-token masks of a step's sampled sequences (the executor applies them before
 * temperature and truncation), and each sampled token fed back. XGrammar loads on first use.
 */
import type { Tokenizer } from '../engine/tokenizer.js';
import { GrammarEngine } from './grammar-engine.js';
import type { GrammarState } from './grammar-state.js';
import type { ResponseFormat } from './response-format.js';

/** What a step needs to know of a sequence: its request id and whether its run ends in a sample. */
export interface MaskedRun {
  readonly id: number;
  readonly isSampled: boolean;
}

/** A request, as far as its grammar state's lifetime goes. */
export interface ConstrainedRequest {
  readonly id: number;
  readonly isFinal: boolean;
}

export interface StepMasks {
  tokenMask: Uint32Array; // [nMasked*words]
  maskRow: Int32Array;    // [nSeq] -1 = none
}

/** 'end': the grammar is complete; 'rejected': the token is outside it (only a broken mask could do that). */
export type AcceptOutcome = 'continue' | 'end' | 'rejected';

export class ConstrainedDecoding {
  private engine?: Promise<GrammarEngine>;
  private readonly states = new Map<number, GrammarState>();
  private readonly owners = new Map<number, ConstrainedRequest>();

  constructor(private readonly tokenizer: Tokenizer, private readonly vocabSize: number) {}

  /** Compiles a format ahead of submit (cached), so a caller can refuse a bad one before answering. */
  async prepare(format: ResponseFormat): Promise<void> {
    await (await this.grammars()).compile(format);
  }

  /** Gives a request its grammar state; rejects with InvalidRequestError when the format cannot compile. */
  async attach(request: ConstrainedRequest, format: ResponseFormat): Promise<void> {
    const state = await (await this.grammars()).createState(format);
    if (request.isFinal) return state.dispose();
    this.states.set(request.id, state);
    this.owners.set(request.id, request);
  }

  has(id: number): boolean {
    return this.states.has(id);
  }

  /** The masks of the sampled, constrained runs of a step; undefined when none is constrained. */
  async masks(runs: readonly MaskedRun[]): Promise<StepMasks | undefined> {
    this.sweep();
    const rows: number[] = [];
    for (let s = 0; s < runs.length; s++) if (runs[s].isSampled && this.states.has(runs[s].id)) rows.push(s);
    if (rows.length === 0) return undefined;
    const words = Math.ceil(this.vocabSize / 32);
    const tokenMask = new Uint32Array(rows.length * words);
    const maskRow = new Int32Array(runs.length).fill(-1);
    const masks = await Promise.all(rows.map((s) => this.states.get(runs[s].id)!.nextMask()));
    rows.forEach((s, row) => {
      tokenMask.set(masks[row].subarray(0, words), row * words);
      maskRow[s] = row;
    });
    return { tokenMask, maskRow };
  }

  /** Feeds a sampled token to the request's grammar: 'end' once the grammar is complete. */
  accept(id: number, token: number): AcceptOutcome {
    const state = this.states.get(id);
    if (!state) return 'continue';
    if (!state.accept(token)) return 'rejected';
    return state.isTerminated ? 'end' : 'continue';
  }

  release(id: number): void {
    this.states.get(id)?.dispose();
    this.states.delete(id);
    this.owners.delete(id);
  }

  /** Frees the states of requests that have ended (however they ended). */
  sweep(): void {
    for (const [id, owner] of this.owners) if (owner.isFinal) this.release(id);
  }

  private grammars(): Promise<GrammarEngine> {
    this.engine ??= GrammarEngine.create(this.tokenizer, this.vocabSize);
    this.engine.catch(() => (this.engine = undefined)); // e.g. a tokenizer without token bytes: refuse, retry next time
    return this.engine;
  }
}

