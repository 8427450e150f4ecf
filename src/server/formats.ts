/**
 * The response bodies of the two endpoints, whole and as stream chunks. One ResponseFormat
 * per endpoint; the generation driver (generation.ts) does not know which it writes.
 *
 * finish_reason: the engine's 'stop' and 'length' pass through; 'timeout' (the request's
 * deadline) reads 'length', as the output was cut by a limit; 'abort' passes through as
 * vLLM does (only seen when the server shuts down mid-request: a client that disconnects
 * gets no response).
 */
import { randomUUID } from 'node:crypto';
import type { RequestResult } from '../engine/handle.js';
import { chatLogprobs, completionLogprobs, type TokenTexts } from './logprobs.js';

export type ApiFinishReason = 'stop' | 'length' | 'abort';

export function apiFinishReason(reason: RequestResult['finishReason']): ApiFinishReason {
  return reason === 'timeout' ? 'length' : reason;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

export function usageOf(result: RequestResult): Usage {
  return {
    prompt_tokens: result.promptTokens,
    completion_tokens: result.outputTokens,
    total_tokens: result.promptTokens + result.outputTokens,
    prompt_tokens_details: { cached_tokens: result.metrics.cachedTokens },
  };
}

/** What an endpoint writes; `withUsage` asks for `usage: null` on every chunk (stream_options.include_usage). */
export interface ResponseFormat {
  whole(result: RequestResult): object;
  /** Chunks sent before any text (chat: the assistant role). */
  opening(): object[];
  delta(text: string): object;
  /** The chunk carrying finish_reason (and, when asked, every token's logprobs). */
  finish(result: RequestResult): object;
  usage(result: RequestResult): object;
}

interface FormatContext {
  model: string;
  texts: TokenTexts;
  withUsage: boolean;
}

function header(id: string, object: string, model: string): { id: string; object: string; created: number; model: string } {
  return { id, object, created: Math.floor(Date.now() / 1000), model };
}

export function completionFormat(ctx: FormatContext): ResponseFormat {
  const id = `cmpl-${randomUUID().replace(/-/g, '')}`;
  const chunk = (choice: object): object => ({
    ...header(id, 'text_completion', ctx.model),
    choices: [{ index: 0, logprobs: null, finish_reason: null, ...choice }],
    ...(ctx.withUsage ? { usage: null } : {}),
  });
  const logprobs = (result: RequestResult) => (result.logprobs ? completionLogprobs(result.logprobs, ctx.texts) : null);
  return {
    whole: (result) => ({
      ...header(id, 'text_completion', ctx.model),
      choices: [{ index: 0, text: result.text, logprobs: logprobs(result), finish_reason: apiFinishReason(result.finishReason) }],
      usage: usageOf(result),
    }),
    opening: () => [],
    delta: (text) => chunk({ text }),
    finish: (result) => chunk({ text: '', logprobs: logprobs(result), finish_reason: apiFinishReason(result.finishReason) }),
    usage: (result) => ({ ...header(id, 'text_completion', ctx.model), choices: [], usage: usageOf(result) }),
  };
}

export function chatFormat(ctx: FormatContext): ResponseFormat {
  const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
  const chunk = (choice: object): object => ({
    ...header(id, 'chat.completion.chunk', ctx.model),
    choices: [{ index: 0, logprobs: null, finish_reason: null, ...choice }],
    ...(ctx.withUsage ? { usage: null } : {}),
  });
  const logprobs = (result: RequestResult) => (result.logprobs ? chatLogprobs(result.logprobs, ctx.texts) : null);
  return {
    whole: (result) => ({
      ...header(id, 'chat.completion', ctx.model),
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: result.text, refusal: null },
          logprobs: logprobs(result),
          finish_reason: apiFinishReason(result.finishReason),
        },
      ],
      usage: usageOf(result),
    }),
    opening: () => [chunk({ delta: { role: 'assistant', content: '' } })],
    delta: (text) => chunk({ delta: { content: text } }),
    finish: (result) => chunk({ delta: {}, logprobs: logprobs(result), finish_reason: apiFinishReason(result.finishReason) }),
    usage: (result) => ({ ...header(id, 'chat.completion.chunk', ctx.model), choices: [], usage: usageOf(result) }),
  };
}
