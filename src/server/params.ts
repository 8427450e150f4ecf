/** From a validated request body to the engine's sampling parameters (OpenAI names -> engine names). */
import type { SubmitOptions } from '../engine/core.js';
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
    logitBias: value(body.logit_bias),
  };
}

/** vLLM's priority: lower is served first; the engine admits higher priorities first. */
export function submitOptions(body: SamplingBody): SubmitOptions | undefined {
  const priority = value(body.priority);
  return priority === undefined ? undefined : { priority: -priority };
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

/** The prompts of a completion request (text or token ids; a list of either is a batch). */
export function completionPrompts(body: CompletionBody): Array<string | number[]> {
  const prompt = body.prompt;
  if (typeof prompt === 'string') return [prompt];
  if (typeof prompt[0] === 'number') return [prompt as number[]];
  return prompt as string[] | number[][];
}

export function includeUsage(body: SamplingBody): boolean {
  return value(body.stream_options?.include_usage) ?? false;
}
