/** From a validated request body to the engine's sampling parameters (OpenAI names -> engine names). */
import type { SamplingParams } from '../engine/sampling.js';
import { HttpError } from './http-errors.js';
import type { ChatBody, CompletionBody, SamplingBody } from './schemas.js';

/** /v1/completions generates 16 tokens when max_tokens is absent (OpenAI's and vLLM's default). */
export const DEFAULT_COMPLETION_MAX_TOKENS = 16;

const value = <T>(x: T | null | undefined): T | undefined => (x === null ? undefined : x);

function common(body: SamplingBody): SamplingParams {
  const stop = value(body.stop);
  const topK = value(body.top_k);
  return {
    temperature: value(body.temperature) ?? 1,
    topP: value(body.top_p),
    topK: topK === -1 ? 0 : topK, // vLLM spells "off" as -1
    minP: value(body.min_p),
    seed: value(body.seed),
    stop: stop === undefined ? undefined : typeof stop === 'string' ? [stop] : stop,
    stopTokenIds: value(body.stop_token_ids),
    ignoreEos: value(body.ignore_eos),
    presencePenalty: value(body.presence_penalty),
    frequencyPenalty: value(body.frequency_penalty),
    repetitionPenalty: value(body.repetition_penalty),
  };
}

export function completionParams(body: CompletionBody): SamplingParams {
  const logprobs = value(body.logprobs);
  return { ...common(body), maxTokens: value(body.max_tokens) ?? DEFAULT_COMPLETION_MAX_TOKENS, logprobs };
}

/** Chat defaults to the engine's own limit (256, capped by the context) when neither max field is set. */
export function chatParams(body: ChatBody): SamplingParams {
  const wantsLogprobs = value(body.logprobs) ?? false;
  const topLogprobs = value(body.top_logprobs);
  if (topLogprobs !== undefined && topLogprobs > 0 && !wantsLogprobs) {
    throw new HttpError(400, 'top_logprobs requires logprobs: true', 'invalid_request_error', 'invalid_value', 'top_logprobs');
  }
  return {
    ...common(body),
    maxTokens: value(body.max_completion_tokens) ?? value(body.max_tokens),
    logprobs: wantsLogprobs ? (topLogprobs ?? 0) : undefined,
  };
}

/** The one prompt of a completion request (text or token ids). */
export function completionPrompt(body: CompletionBody): string | number[] {
  const prompt = body.prompt;
  if (typeof prompt === 'string') return prompt;
  if (typeof prompt[0] === 'number') return prompt as number[];
  return (prompt as [string] | [number[]])[0];
}

export function includeUsage(body: SamplingBody): boolean {
  return value(body.stream_options?.include_usage) ?? false;
}
