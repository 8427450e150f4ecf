/**
 * Drives the choices of one accepted request (n copies of each prompt) to the response,
 * streamed (SSE) or whole, whatever the endpoint: submits them (a prompt's copies after its
 * first copy is prefilled, so they share its KV pages through the prefix cache), counts
 * them in the metrics, times their tokens, splits tool calls out of chat answers, and aborts
 * them all when the client goes away (which frees their pages).
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { filter, firstValueFrom } from 'rxjs';
import type { SubmitOptions } from '../engine/core.js';
import type { NanoServingEngine } from '../engine/engine.js';
import type { RequestHandle, RequestResult } from '../engine/handle.js';
import type { SamplingParams } from '../engine/sampling.js';
import type { ChoiceResult, ResponseFormat } from './formats.js';
import { mapError, shuttingDown } from './http-errors.js';
import type { ServerMetrics } from './metrics.js';
import { SseWriter } from './sse.js';
import type { ToolFormat } from './tool-format.js';
import { ToolCallStream, type ChatDelta } from './tool-stream.js';

export interface GenerationContext {
  engine: NanoServingEngine;
  metrics: ServerMetrics;
  /** Requests in flight, so that closing the server can abort or drain them. */
  active: Set<RequestHandle>;
  lifecycle: { readonly isDraining: boolean };
}

export interface ChoiceJob {
  index: number;
  prompt: string | number[];
  params: SamplingParams;
  options?: SubmitOptions;
  /** The index of the job with the same prompt submitted first (n > 1), if this is a copy. */
  copyOf?: number;
  echo?: string;
}

interface Choice {
  job: ChoiceJob;
  handle: Promise<RequestHandle>;
}

/** Submits every job; the first copy of each prompt at once (bad input throws before anything is sent). */
export function submitChoices(ctx: GenerationContext, jobs: readonly ChoiceJob[]): Choice[] {
  const handles = new Map<number, Promise<RequestHandle>>();
  const submitted: RequestHandle[] = [];
  try {
    for (const job of jobs) {
      if (job.copyOf !== undefined) continue;
      const handle = ctx.engine.submit(job.prompt, job.params, job.options);
      submitted.push(handle);
      handles.set(job.index, Promise.resolve(handle));
    }
  } catch (error) {
    for (const handle of submitted) handle.abort();
    throw error;
  }
  for (const job of jobs) {
    if (job.copyOf === undefined) continue;
    handles.set(job.index, handles.get(job.copyOf)!.then(async (first) => {
      await firstValueFrom(first.state$.pipe(filter((state) => state !== 'waiting' && state !== 'prefilling')), { defaultValue: undefined });
      return ctx.engine.submit(job.prompt, job.params, job.options);
    }));
  }
  return jobs.map((job) => ({ job, handle: handles.get(job.index)! }));
}

/** Waits for every choice; aborts them all if the client disconnects first (then nothing is sent: the reply is hijacked). */
export async function respondWhole(ctx: GenerationContext, choices: Choice[], reply: FastifyReply, format: ResponseFormat, tools?: ToolFormat): Promise<object | undefined> {
  let results: ChoiceResult[];
  try {
    results = await Promise.all(choices.map(async (choice) => toChoiceResult(choice.job, await track(ctx, await choice.handle, reply.raw), tools)));
  } catch (error) {
    for (const choice of choices) void choice.handle.then((h) => h.abort(), () => undefined);
    throw error;
  }
  if (!reply.raw.destroyed) return format.whole(results);
  reply.hijack();
  return undefined;
}

function toChoiceResult(job: ChoiceJob, result: RequestResult, tools?: ToolFormat): ChoiceResult {
  return { index: job.index, result, isPromptCopy: job.copyOf !== undefined, parsed: tools?.parse(result.text), echo: job.echo };
}

/** Streams each choice's pieces as SSE chunks, its finish chunk, then the usage chunk (if asked) and [DONE]. */
export async function respondStream(ctx: GenerationContext, choices: Choice[], reply: FastifyReply, format: ResponseFormat, withUsage: boolean, tools?: ToolFormat): Promise<void> {
  reply.hijack();
  const sse = new SseWriter(reply.raw);
  sse.open();
  try {
    const results = await Promise.all(choices.map((choice) => streamChoice(ctx, choice, sse, format, reply.raw, tools)));
    if (withUsage) sse.send(format.usage(results));
  } catch (error) {
    for (const choice of choices) void choice.handle.then((h) => h.abort(), () => undefined);
    sse.send(mapError(error).body); // headers are gone: the error travels as an event
  } finally {
    sse.done();
  }
}

async function streamChoice(ctx: GenerationContext, choice: Choice, sse: SseWriter, format: ResponseFormat, res: ServerResponse, tools?: ToolFormat): Promise<ChoiceResult> {
  const handle = await choice.handle;
  const { index } = choice.job;
  for (const chunk of format.opening(index)) sse.send(chunk);
  if (choice.job.echo) sse.send(format.delta(index, { content: choice.job.echo }, undefined));
  const calls = tools ? new ToolCallStream(tools) : undefined;
  let sentLogprobs = 0;
  const logprobsSince = () => {
    const all = handle.logprobsSoFar();
    if (choice.job.params.logprobs === undefined || all.length === sentLogprobs) return undefined;
    const fresh = all.slice(sentLogprobs);
    sentLogprobs = all.length;
    return fresh;
  };
  const send = (deltas: ChatDelta[]): void => {
    for (const delta of deltas) sse.send(format.delta(index, delta, logprobsSince()));
  };
  const subscription = handle.text$.subscribe({ next: (piece) => send(calls ? calls.push(piece) : [{ content: piece }]), error: () => undefined });
  try {
    const result = await track(ctx, handle, res);
    const finished = calls?.finish();
    if (finished) send(finished.deltas);
    const rest = logprobsSince(); // tokens whose text was held back (a stop string, a tool-call tag) or empty
    if (rest) sse.send(format.delta(index, { content: '' }, rest));
    const out: ChoiceResult = { ...toChoiceResult(choice.job, result), parsed: finished?.parsed, callIds: calls?.ids };
    sse.send(format.finish(out));
    return out;
  } finally {
    subscription.unsubscribe();
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
  let result: RequestResult;
  try {
    result = await handle.done;
    ctx.metrics.recordResult(result);
  } catch (error) {
    ctx.metrics.recordFailure();
    throw error;
  } finally {
    timing.unsubscribe();
    res.off('close', onClose);
    ctx.active.delete(handle);
  }
  if (result.finishReason === 'abort' && !res.destroyed) throw shuttingDown(); // only a shutdown aborts a request whose client is still there
  return result;
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
