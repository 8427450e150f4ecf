/** What submit() returns: the request's streams, its final result and its abort switch. */
import { Observable, distinctUntilChanged } from 'rxjs';
import type { FinishReason, RequestPhase } from '../../machines/request.js';
import { ReplayChannel } from '../../streams/replay.js';
import type { RequestSlot, TokenLogprob } from './request-slot.js';

export interface RequestMetrics {
  /** Milliseconds from submit to the first token (NaN when none). */
  ttftMs: number;
  totalMs: number;
  /** Prompt tokens reused from the prefix cache. */
  cachedTokens: number;
  numPreemptions: number;
}

export interface RequestResult {
  id: number;
  /** Number of prompt tokens. */
  promptTokens: number;
  /** Number of generated tokens. */
  outputTokens: number;
  /** The generated token ids. */
  tokens: number[];
  /** The generated text (stop strings excluded). */
  text: string;
  finishReason: FinishReason;
  logprobs?: TokenLogprob[];
  metrics: RequestMetrics;
}

export interface RequestHandle {
  readonly id: number;
  /** Each generated token once, in order; completes at finish (also after abort), errors on failure. Replays to late subscribers. */
  readonly tokens$: Observable<number>;
  /** Incremental text, UTF-8 safe; stop strings never appear. */
  readonly text$: Observable<string>;
  /** Lifecycle states from the request's machine: the current one first; completes at the final state. */
  readonly state$: Observable<RequestPhase>;
  readonly done: Promise<RequestResult>;
  /** Logprobs of the tokens generated so far (when requested), for streaming them with their text. */
  logprobsSoFar(): readonly TokenLogprob[];
  abort(): void;
}

/** The engine's side of a handle: the channels it pushes into and the promise it settles. */
export class RequestOutputs {
  readonly tokens: ReplayChannel<number>;
  readonly text: ReplayChannel<string>;
  readonly done: Promise<RequestResult>;
  resolve!: (result: RequestResult) => void;
  reject!: (error: unknown) => void;

  /** `catchUpText` decodes tokens not yet turned into text (text is decoded lazily). */
  constructor(slot: RequestSlot, onAllUnsubscribed: () => void, catchUpText: () => void) {
    const lastGone = (): void => {
      if (this.tokens.subscriberCount + this.text.subscriberCount === 0) onAllUnsubscribed();
    };
    this.tokens = new ReplayChannel(() => slot.numOutput, (i) => slot.outputToken(i), lastGone);
    this.text = new ReplayChannel(() => slot.textPieces.length, (i) => slot.textPieces[i], lastGone, catchUpText);
    this.done = new Promise<RequestResult>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.done.catch(() => undefined); // a failure is reported to whoever awaits it, never as an unhandled rejection
  }
}

export function createHandle(slot: RequestSlot, outputs: RequestOutputs, abort: () => void): RequestHandle {
  return {
    id: slot.id,
    tokens$: outputs.tokens.observable(),
    text$: outputs.text.observable(),
    state$: phasesOf(slot).pipe(distinctUntilChanged()),
    done: outputs.done,
    logprobsSoFar: () => slot.logprobs,
    abort,
  };
}

/** The machine's phase now, then each one it enters; completes when it reaches a final state. */
function phasesOf(slot: RequestSlot): Observable<RequestPhase> {
  return new Observable<RequestPhase>((subscriber) => {
    subscriber.next(slot.lifecycle);
    if (slot.snapshot.status !== 'active') {
      subscriber.complete();
      return undefined;
    }
    const listener = (phase: RequestPhase, isDone: boolean): void => {
      subscriber.next(phase);
      if (isDone) subscriber.complete();
    };
    const listeners = (slot.phaseListeners ??= new Set());
    listeners.add(listener);
    return () => listeners.delete(listener);
  });
}

function toArray(tokens: Int32Array): number[] {
  const out: number[] = new Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) out[i] = tokens[i];
  return out;
}

export function resultOf(slot: RequestSlot, finishReason: FinishReason, now: number): RequestResult {
  const text = slot.textPieces.join('');
  return {
    id: slot.id,
    promptTokens: slot.numPrompt,
    outputTokens: slot.numOutput,
    tokens: toArray(slot.outputTokens),
    text,
    finishReason,
    logprobs: slot.sampling.logprobs === undefined ? undefined : slot.logprobs,
    metrics: {
      ttftMs: slot.firstTokenAt ? slot.firstTokenAt - slot.submittedAt : NaN,
      totalMs: now - slot.submittedAt,
      cachedTokens: slot.numCachedPrompt,
      numPreemptions: slot.snapshot.context.numPreemptions,
    },
  };
}
