/**
 * The response bodies of the two endpoints, whole and as stream chunks, for any number of
 * choices. One ResponseFormat per endpoint; the generation driver (generation.ts) does not
 * know which it writes.
 *
 * finish_reason: the engine's 'stop' and 'length' pass through, 'tool_calls' when the answer
 * is tool calls; 'timeout' (the request's deadline) reads 'length', as the output was cut by
 * a limit. 'abort' never reaches a client: a client that disconnects gets no response, and a
 * server shutting down drains or answers 503 before anything was sent.
 */
import { randomUUID } from 'node:crypto';
import type { RequestResult } from '../engine/handle.js';
import type { TokenLogprob } from '../engine/request-slot.js';
import { chatLogprobs, completionLogprobs, type TokenTexts } from './logprobs.js';
import type { ParsedOutput } from './tool-format.js';
import { toolCallsOf, type ChatDelta } from './tool-stream.js';

export type ApiFinishReason = 'stop' | 'length' | 'tool_calls';

export function apiFinishReason(reason: RequestResult['finishReason'], hasToolCalls = false): ApiFinishReason {
  if (hasToolCalls) return 'tool_calls';
  return reason === 'stop' ? 'stop' : 'length';
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

/** Prompt tokens count once per prompt (copies of one prompt for n > 1 share it), completion tokens per choice. */
export function usageOf(choices: readonly ChoiceResult[]): Usage {
  let prompt = 0;
  let cached = 0;
  let completion = 0;
  for (const c of choices) {
    completion += c.result.outputTokens;
    if (!c.isPromptCopy) {
      prompt += c.result.promptTokens;
      cached += c.result.metrics.cachedTokens;
    }
  }
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } };
}

export interface ChoiceResult {
  index: number;
  result: RequestResult;
  /** A second or later copy of a prompt (n > 1): its prompt tokens are not counted again. */
  isPromptCopy: boolean;
  /** Chat with tools: the answer split into content and calls. */
  parsed?: ParsedOutput;
  /** Ids already streamed for the calls. */
  callIds?: string[];
  /** Completions with echo: the prompt text written before the output. */
  echo?: string;
}

/** What an endpoint writes. */
export interface ResponseFormat {
  whole(choices: readonly ChoiceResult[]): object;
  /** Chunks sent before any text (chat: the assistant role). */
  opening(index: number): object[];
  /** A piece of a choice's answer, with the logprobs of the tokens that produced it (when asked). */
  delta(index: number, delta: ChatDelta, logprobs: readonly TokenLogprob[] | undefined): object;
  /** The chunk carrying finish_reason. */
  finish(choice: ChoiceResult): object;
  usage(choices: readonly ChoiceResult[]): object;
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
  const offsets = new Map<number, number>();
  const chunk = (choice: object): object => ({
    ...header(id, 'text_completion', ctx.model),
    choices: [{ logprobs: null, finish_reason: null, ...choice }],
    ...(ctx.withUsage ? { usage: null } : {}),
  });
  return {
    whole: (choices) => ({
      ...header(id, 'text_completion', ctx.model),
      choices: choices.map((c) => ({
        index: c.index,
        text: (c.echo ?? '') + c.result.text,
        logprobs: c.result.logprobs ? completionLogprobs(c.result.logprobs, ctx.texts, (c.echo ?? '').length) : null,
        finish_reason: apiFinishReason(c.result.finishReason),
      })),
      usage: usageOf(choices),
    }),
    opening: () => [],
    delta: (index, delta, logprobs) => {
      const text = 'content' in delta ? delta.content : '';
      const offset = offsets.get(index) ?? 0;
      offsets.set(index, offset + text.length);
      return chunk({ index, text, logprobs: logprobs ? completionLogprobs(logprobs, ctx.texts, offset) : null });
    },
    finish: (c) => chunk({ index: c.index, text: '', finish_reason: apiFinishReason(c.result.finishReason) }),
    usage: (choices) => ({ ...header(id, 'text_completion', ctx.model), choices: [], usage: usageOf(choices) }),
  };
}

export function chatFormat(ctx: FormatContext): ResponseFormat {
  const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
  const chunk = (choice: object): object => ({
    ...header(id, 'chat.completion.chunk', ctx.model),
    choices: [{ logprobs: null, finish_reason: null, ...choice }],
    ...(ctx.withUsage ? { usage: null } : {}),
  });
  const message = (c: ChoiceResult): object => {
    const calls = c.parsed?.calls ?? [];
    if (calls.length === 0) return { role: 'assistant', content: c.parsed?.content ?? c.result.text, refusal: null };
    return { role: 'assistant', content: c.parsed!.content.length > 0 ? c.parsed!.content : null, refusal: null, tool_calls: toolCallsOf(calls, c.callIds) };
  };
  return {
    whole: (choices) => ({
      ...header(id, 'chat.completion', ctx.model),
      choices: choices.map((c) => ({
        index: c.index,
        message: message(c),
        logprobs: c.result.logprobs ? chatLogprobs(c.result.logprobs, ctx.texts) : null,
        finish_reason: apiFinishReason(c.result.finishReason, (c.parsed?.calls.length ?? 0) > 0),
      })),
      usage: usageOf(choices),
    }),
    opening: (index) => [chunk({ index, delta: { role: 'assistant', content: '' } })],
    delta: (index, delta, logprobs) => chunk({ index, delta, logprobs: logprobs ? chatLogprobs(logprobs, ctx.texts) : null }),
    finish: (c) => chunk({ index: c.index, delta: {}, finish_reason: apiFinishReason(c.result.finishReason, (c.parsed?.calls.length ?? 0) > 0) }),
    usage: (choices) => ({ ...header(id, 'chat.completion.chunk', ctx.model), choices: [], usage: usageOf(choices) }),
  };
}
