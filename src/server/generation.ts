/**
 * Drives one accepted request to its response, streamed (SSE) or whole, whatever the
 * endpoint: counts it in the metrics, times its tokens, and aborts it when the client
 * goes away (the response's 'close' before it was finished), which frees its pages.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { RequestHandle, RequestResult } from '../engine/handle.js';
import type { ResponseFormat } from './formats.js';
import { mapError } from './http-errors.js';
import type { ServerMetrics } from './metrics.js';
import { SseWriter } from './sse.js';

export interface GenerationContext {
  metrics: ServerMetrics;
  /** Requests in flight, so that closing the server can abort them. */
  active: Set<RequestHandle>;
}

/** Waits for the result; aborts if the client disconnects first (then nothing is sent: the reply is hijacked). */
export async function respondWhole(ctx: GenerationContext, handle: RequestHandle, reply: FastifyReply, format: ResponseFormat): Promise<object | undefined> {
  const result = await track(ctx, handle, reply.raw);
  if (!reply.raw.destroyed) return format.whole(result);
  reply.hijack();
  return undefined;
}

/** Streams text pieces as SSE chunks, then the finish chunk, the usage chunk (if asked) and [DONE]. */
export async function respondStream(
  ctx: GenerationContext,
  handle: RequestHandle,
  reply: FastifyReply,
  format: ResponseFormat,
  withUsage: boolean,
): Promise<void> {
  reply.hijack();
  const sse = new SseWriter(reply.raw);
  sse.open();
  for (const chunk of format.opening()) sse.send(chunk);
  const subscription = handle.text$.subscribe({ next: (piece) => sse.send(format.delta(piece)), error: () => undefined });
  try {
    const result = await track(ctx, handle, reply.raw);
    sse.send(format.finish(result));
    if (withUsage) sse.send(format.usage(result));
  } catch (error) {
    sse.send(mapError(error).body); // headers are gone: the error travels as an event
  } finally {
    subscription.unsubscribe();
    sse.done();
  }
}

/** The request's result, with metrics and disconnect handling around it. */
async function track(ctx: GenerationContext, handle: RequestHandle, res: ServerResponse): Promise<RequestResult> {
  ctx.active.add(handle);
  const onClose = (): void => {
    if (!res.writableEnded) handle.abort();
  };
  res.on('close', onClose);
  if (res.destroyed) handle.abort(); // the client left before the request was submitted
  const timing = timeTokens(ctx.metrics, handle);
  try {
    const result = await handle.done;
    ctx.metrics.recordResult(result);
    return result;
  } catch (error) {
    ctx.metrics.recordFailure();
    throw error;
  } finally {
    timing.unsubscribe();
    res.off('close', onClose);
    ctx.active.delete(handle);
  }
}

/** Observes the time between consecutive tokens. */
function timeTokens(metrics: ServerMetrics, handle: RequestHandle): { unsubscribe(): void } {
  let last = 0;
  return handle.tokens$.subscribe({
    next: () => {
      const now = performance.now();
      if (last !== 0) metrics.recordInterTokenLatency(now - last);
      last = now;
    },
    error: () => undefined,
  });
}
