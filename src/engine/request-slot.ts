/**
 * Everything the engine keeps for one request, beside its lifecycle machine: the token
 * buffer (prompt + output, a growable Int32Array), KV bookkeeping, the output channels
 * and timings. The machine owns the phase; this holds the per-token data.
 */
import { RequestLifecycle, type LifecycleRunner } from '../../machines/lifecycle.js';
import { phaseOf, type RequestEvent, type RequestPhase, type RequestSnapshot } from '../../machines/request.js';
import type { RequestView } from '../scheduler/view.js';
import type { ResolvedSampling } from './sampling.js';
import type { TextStream } from './text-stream.js';
import type { RequestOutputs } from './handle.js';

export interface TokenLogprob {
  token: number;
  logprob: number;
  top?: Array<{ token: number; logprob: number }>;
}

export class RequestSlot implements RequestView {
  /** The request's lifecycle machine (machines/request.ts), evaluated by the engine's LifecycleRunner. */
  readonly lifecycleMachine: RequestLifecycle;
  /** The machine's phase as of its last transition (set on each transition only). */
  private phaseMirror: RequestPhase = 'waiting';
  /** Hear each phase change (handle.state$ subscribers; none allocated until one subscribes). */
  phaseListeners: Set<(phase: RequestPhase, isDone: boolean) => void> | undefined = undefined;
  /** (capacity) prompt tokens then output tokens. */
  private buffer: Int32Array;
  numTokens: number;
  numComputed = 0;
  /** Output tokens already fed to the text stream. */
  numTextTokens = 0;
  /** Page table: page ids holding positions [i*pageSize, (i+1)*pageSize). */
  pages: number[] = [];
  /** Prefix-cache node this request holds locked (opaque to the engine). */
  cacheNode: unknown = undefined;
  /** The executor keeps this request's state (pages, penalty counts): see kept-sequences.ts. */
  isKept = false;
  /** Leading entries of `pages` the executor holds. */
  keptPages = 0;
  /** Prompt tokens reused from the prefix cache at first admission. */
  numCachedPrompt = 0;
  readonly logprobs: TokenLogprob[] = [];
  /** Text emitted so far, in pieces. */
  readonly textPieces: string[] = [];
  readonly submittedAt: number;
  firstTokenAt = 0;
  lastTokenAt = 0;
  /** The channels and promise the engine settles; set right after construction. */
  outputs!: RequestOutputs;
  /** Called once when the machine's deadline timer ended the request (set by the engine). */
  onDeadline: () => void = () => undefined;
  /** Detached requests keep running when every subscriber has gone. */
  isDetached = false;

  constructor(
    readonly id: number,
    readonly arrival: number,
    readonly priority: number,
    prompt: ArrayLike<number>,
    readonly sampling: ResolvedSampling,
    readonly text: TextStream,
    now: number,
    lifecycles: LifecycleRunner,
    timeoutMs: number | undefined,
  ) {
    this.buffer = new Int32Array(prompt.length + Math.min(sampling.maxTokens, 64));
    this.buffer.set(prompt);
    this.numTokens = prompt.length;
    this.numPrompt = prompt.length;
    this.submittedAt = now;
    this.lifecycleMachine = new RequestLifecycle(lifecycles, { timeoutMs });
    this.lifecycleMachine.onChange = (snapshot) => this.noteTransition(snapshot);
  }

  private noteTransition(snapshot: RequestSnapshot): void {
    const before = this.phaseMirror;
    this.phaseMirror = phaseOf(snapshot);
    // The machine's own deadline timer ended it: tell the engine, now that the phase reads 'releasing'.
    if (before !== 'releasing' && this.phaseMirror === 'releasing' && snapshot.context.finishReason === 'timeout') this.onDeadline();
    if (this.phaseListeners) for (const listener of [...this.phaseListeners]) listener(this.phaseMirror, snapshot.status !== 'active');
  }

  /** The machine's current snapshot (its context: outcome, finish reason, counts). */
  get snapshot(): RequestSnapshot {
    return this.lifecycleMachine.snapshot;
  }

  readonly numPrompt: number;

  /** The phase, read from the machine (the only place it lives; mirrored on each transition, so reading it is O(1)). */
  get lifecycle(): RequestPhase {
    return this.phaseMirror;
  }

  /** The phase as the scheduler sees it (live requests only are in its view). */
  get phase(): 'waiting' | 'prefilling' | 'decoding' {
    return this.phaseMirror as 'waiting' | 'prefilling' | 'decoding';
  }

  /** Ended for its client (releasing, or released). */
  get isFinal(): boolean {
    const phase = this.phaseMirror;
    return phase !== 'waiting' && phase !== 'prefilling' && phase !== 'decoding';
  }

  /** Ended, with pages still to give back. */
  get isReleasing(): boolean {
    return this.phaseMirror === 'releasing';
  }

  /** Admitted at least once before (a preempted request returning). */
  get hasRun(): boolean {
    return this.lifecycleMachine.snapshot.context.numAdmissions > 0;
  }

  get numPages(): number {
    return this.pages.length;
  }

  get numOutput(): number {
    return this.numTokens - this.numPrompt;
  }

  /** All known tokens (a view: valid until the next append). */
  get tokens(): Int32Array {
    return this.buffer.subarray(0, this.numTokens);
  }

  get outputTokens(): Int32Array {
    return this.buffer.subarray(this.numPrompt, this.numTokens);
  }

  tokenAt(index: number): number {
    return this.buffer[index];
  }

  outputToken(index: number): number {
    return this.buffer[this.numPrompt + index];
  }

  /** Whether both know tokens [start, start + n) and they are equal. */
  sharesTokens(other: RequestSlot, start: number, n: number): boolean {
    if (start + n > this.numTokens || start + n > other.numTokens) return false;
    for (let i = start; i < start + n; i++) if (this.buffer[i] !== other.buffer[i]) return false;
    return true;
  }

  append(token: number): void {
    if (this.numTokens === this.buffer.length) {
      const grown = new Int32Array(this.buffer.length * 2);
      grown.set(this.buffer);
      this.buffer = grown;
    }
    this.buffer[this.numTokens++] = token;
  }

  send(event: RequestEvent): void {
    this.lifecycleMachine.send(event);
  }
}
