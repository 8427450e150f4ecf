/**
 * The engine's side of constrained decoding: one grammar state per constrained request, the
 * allowed-token masks of a step's sampled sequences (the executor applies them before
 * temperature and truncation), and each sampled token fed back. XGrammar loads on first use.
 */
import type { Tokenizer } from '../engine/tokenizer.js';
import type { Executor, StepInput, StepOutput } from '../executor/step.js';
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

/** 'end': the grammar is complete; 'rejected': the token is outside it (only a broken mask could do that). */
export interface PlannedMasks {
  input: { tokenMask: Uint32Array; maskRow: Int32Array; maskReady: Int32Array };
  states: GrammarState[];
  words: number;
}

export type AcceptOutcome = 'continue' | 'end' | 'rejected';

export class ConstrainedDecoding {
  private engine?: Promise<GrammarEngine>;
  private readonly states = new Map<number, GrammarState>();
  private readonly owners = new Map<number, ConstrainedRequest>();
  /** Mask rows of the step in flight, shared with the executor (grows, never moves). */
  private shared = new Uint32Array(new SharedArrayBuffer(4));

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

  /**
   * Runs a step on the executor; when some of its sampled runs are constrained, their masks
   * are computed while the forward pass runs (the sampler waits for them), and a mask that
   * fails fails the step once the executor is done with the shared memory. `sync`: a step with
   * no constrained run goes to executor.stepSync (a constrained one always to step(): its masks
   * are written while it runs).
   */
  async step(executor: Executor, input: StepInput, runs: readonly MaskedRun[], sync = false): Promise<StepOutput> {
    const masks = this.planMasks(runs);
    if (!masks) return sync && executor.stepSync ? executor.stepSync(input) : executor.step(input);
    const pending = executor.step({ ...input, ...masks.input });
    pending.catch(() => undefined); // handled below, once the masks are in
    await this.fillMasks(masks).catch((error: unknown) => pending.then(() => Promise.reject(error), () => Promise.reject(error)));
    return pending;
  }

  /**
   * Which sampled runs of a step are constrained, with room for their masks (reused shared
   * memory); undefined when none is. The masks themselves are written by fillMasks, meant to
   * run while the executor's forward pass does (the sampler waits for maskReady).
   */
  planMasks(runs: readonly MaskedRun[]): PlannedMasks | undefined {
    if (this.owners.size === 0) return undefined; // no request is constrained: no lookups (every step of most engines)
    this.sweep();
    const rows: number[] = [];
    for (let s = 0; s < runs.length; s++) if (runs[s].isSampled && this.states.has(runs[s].id)) rows.push(s);
    if (rows.length === 0) return undefined;
    const words = Math.ceil(this.vocabSize / 32);
    const maskRow = new Int32Array(runs.length).fill(-1);
    rows.forEach((s, row) => (maskRow[s] = row));
    const states = rows.map((s) => this.states.get(runs[s].id)!);
    const maskReady = new Int32Array(new SharedArrayBuffer(4));
    return { input: { tokenMask: this.maskBuffer(rows.length * words), maskRow, maskReady }, states, words };
  }

  /** Computes every planned mask into place and flags them ready; on failure flags them abandoned and throws. */
  async fillMasks(plan: PlannedMasks): Promise<void> {
    try {
      const masks = await Promise.all(plan.states.map((state) => state.nextMask()));
      masks.forEach((mask, row) => plan.input.tokenMask.set(mask.subarray(0, plan.words), row * plan.words));
      Atomics.store(plan.input.maskReady, 0, 1);
    } catch (error) {
      Atomics.store(plan.input.maskReady, 0, -1);
      throw error;
    }
  }

  private maskBuffer(length: number): Uint32Array {
    if (this.shared.length < length) this.shared = new Uint32Array(new SharedArrayBuffer(Math.max(length, this.shared.length * 2) * 4));
    return this.shared.subarray(0, length);
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

