/**
 * The tick loop: wakes on new work, runs one step at a time (never two in flight),
 * yields to the event loop between steps (setImmediate, so timers and I/O get through),
 * and goes idle when a step reports there was nothing to do. Decisions live in `step`;
 * this file only adapts it to RxJS.
 */
import { Subject, defer, mergeMap, type Subscription } from 'rxjs';

export interface TickLoop {
  /** Ask for steps; cheap and idempotent while the loop is running. */
  wake(): void;
  /** True while steps are being run. */
  readonly isRunning: boolean;
  stop(): void;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * `step` returns true when it did work (so another step may follow) and false when idle.
 * `onError` receives a step's unexpected exception; the loop keeps going (the step is retried).
 */
export function createTickLoop(step: () => Promise<boolean>, onError: (error: unknown) => void): TickLoop {
  const wake$ = new Subject<void>();
  let isRunning = false;
  let isWokenWhileRunning = false;

  // `isRunning` is set by wake() and cleared synchronously when the loop decides to stop,
  // so a wake-up can never fall between the last step and the loop's completion.
  const runUntilIdle = async (): Promise<void> => {
    for (;;) {
      isWokenWhileRunning = false;
      let didWork = false;
      try {
        didWork = await step();
      } catch (error) {
        onError(error);
        didWork = true; // the work is still there: try again after yielding
      }
      if (!didWork && !isWokenWhileRunning) break;
      await yieldToEventLoop();
    }
    isRunning = false;
  };

  const subscription: Subscription = wake$
    .pipe(mergeMap(() => defer(runUntilIdle)))
    .subscribe();

  return {
    wake() {
      if (isRunning) {
        isWokenWhileRunning = true;
        return;
      }
      isRunning = true;
      // Start on a microtask, so every submit of the current task joins the first step.
      queueMicrotask(() => wake$.next());
    },
    get isRunning() {
      return isRunning;
    },
    stop() {
      subscription.unsubscribe();
      wake$.complete();
    },
  };
}
