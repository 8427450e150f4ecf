/** Typed errors. Every error the package throws is a NanoServingError with a stable `code`. */
export class NanoServingError extends Error {
  constructor(readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A request or parameter that can never be served as given (bad prompt, bad sampling parameter). */
export class InvalidRequestError extends NanoServingError {
  constructor(message: string, readonly param?: string) {
    super('ERR_INVALID_REQUEST', message);
  }
}

/** The request is valid but exceeds a capacity: larger than the KV pool or the context, or the queue is full. */
export class CapacityError extends NanoServingError {
  constructor(message: string, code = 'ERR_CAPACITY') {
    super(code, message);
  }
}

/** The engine is closed or closing. */
export class EngineClosedError extends NanoServingError {
  constructor(message = 'engine is closed') {
    super('ERR_ENGINE_CLOSED', message);
  }
}

/** An executor step failed; the requests in that step fail with it. `nativeCode` is the addon's code, if any. */
export class ExecutorError extends NanoServingError {
  constructor(message: string, readonly nativeCode?: string, options?: { cause?: unknown }) {
    super('ERR_EXECUTOR', message, options);
  }
}

/**
 * The scheduling policy could not serve a request: it threw (ERR_POLICY), returned a plan
 * the engine cannot apply as written (ERR_PLAN), or stopped making progress while the
 * request was queued (ERR_STALL: nothing planned, or an admit/preempt cycle repeating).
 * The requests concerned fail with it; the engine keeps serving the others.
 */
export class SchedulerError extends NanoServingError {
  constructor(code: 'ERR_POLICY' | 'ERR_PLAN' | 'ERR_STALL', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A model file or configuration that cannot be loaded; the message names the file and the problem. */
export class ModelLoadError extends NanoServingError {
  constructor(message: string, readonly file?: string, options?: { cause?: unknown }) {
    super('ERR_MODEL_LOAD', message, options);
  }
}

/** Wraps an error thrown by the addon (an Error with a `code`) into the typed ExecutorError, once. */
export function wrapNativeError(err: unknown): NanoServingError {
  if (err instanceof NanoServingError) return err;
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : undefined;
  const message = err instanceof Error ? err.message : String(err);
  return new ExecutorError(message, code, { cause: err });
}
