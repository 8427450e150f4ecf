/**
 * The interference bench's waits, which cannot hang silently. A wait is woken by the watched
 * requests' tokens (no timer polls the JS thread between steps) and also by their endings:
 * when a request it needs has ended (finished, failed, aborted) before the wait's condition
 * holds, or its deadline passes, it rejects with an InterferenceWaitError naming every
 * watched request's phase, tokens and preemptions. Before this, a stream that reached its
 * maxTokens (or failed) while the bench waited for its next tokens left a promise that never
 * settled: the engine went idle and Node exited with code 13 (an unsettled top-level await).
 */
import type { RequestPhase } from '../machines/request.js';
import type { RequestHandle } from '../src/engine/handle.js';

export class InterferenceWaitError extends Error {
  readonly code = 'ERR_BENCH_WAIT';
}

interface Watched {
  readonly name: string;
  readonly handle: RequestHandle;
  numTokens: number;
  phase: RequestPhase | 'unknown';
  /** How it ended ('length', 'abort', an error's message...), undefined while live. */
  ending: string | undefined;
  numPreemptions: number;
}

export class StreamWatch {
  private readonly watched: Watched[] = [];
  private wake: (() => void) | undefined;

  /** `timeoutMs`: the longest any one wait may last. `describeEngine`: a line of engine state for the error (its stats). */
  constructor(private readonly label: string, private readonly timeoutMs: number, private readonly describeEngine: () => string = () => '') {}

  /** Watches a request: `onToken` runs on each of its tokens, before the waits look again. Returns its token count reader. */
  track(name: string, handle: RequestHandle, onToken: () => void = () => undefined): () => number {
    const w: Watched = { name, handle, numTokens: 0, phase: 'unknown', ending: undefined, numPreemptions: 0 };
    this.watched.push(w);
    handle.state$.subscribe((phase) => {
      if (phase === 'waiting' && w.phase !== 'unknown' && w.phase !== 'waiting') w.numPreemptions++;
      w.phase = phase;
    });
    handle.tokens$.subscribe({
      next: () => {
        w.numTokens++;
        onToken();
        this.poke();
      },
      error: (error: unknown) => this.endWith(w, error instanceof Error ? `failed: ${error.message}` : `failed: ${String(error)}`),
      complete: () => this.endWith(w, 'ended'),
    });
    handle.done.then((result) => (w.ending = result.finishReason), () => undefined);
    return () => w.numTokens;
  }

  /**
   * Resolves once `check()` holds; rejects when one of `needed` (names given to track) has
   * ended before it does, or after the watch's timeout.
   */
  async until(what: string, check: () => boolean, needed: readonly string[]): Promise<void> {
    const started = performance.now();
    let isLate = false;
    const timer = setTimeout(() => {
      isLate = true;
      this.poke();
    }, this.timeoutMs);
    try {
      while (!check()) {
        const ended = this.watched.find((w) => needed.includes(w.name) && w.ending !== undefined);
        if (ended) throw this.error(`waiting for ${what}, ${ended.name} ended (${ended.ending}) first`);
        if (isLate) throw this.error(`waiting for ${what}, nothing for ${((performance.now() - started) / 1000).toFixed(0)} s (timeout ${this.timeoutMs} ms)`);
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Every watched request's state, one line. */
  describe(): string {
    return this.watched.map((w) => `${w.name} (id ${w.handle.id}): ${w.ending ?? w.phase}, ${w.numTokens} tokens, ${w.numPreemptions} preemptions`).join('; ');
  }

  private error(message: string): InterferenceWaitError {
    const engine = this.describeEngine();
    return new InterferenceWaitError(`interference ${this.label}: ${message}. Requests: ${this.describe()}${engine ? `. Engine: ${engine}` : ''}`);
  }

  private endWith(w: Watched, ending: string): void {
    w.ending ??= ending;
    this.poke();
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
