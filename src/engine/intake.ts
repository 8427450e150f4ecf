/** Request intake: everything checked at submit, before anything is scheduled (typed errors). */
import { CapacityError, InvalidRequestError } from '../errors.js';
import type { ExecutorInfo } from '../executor/step.js';
import { pagesFor } from '../scheduler/view.js';
import { resolveSampling, type ResolvedSampling, type SamplingParams } from './sampling.js';
import type { Tokenizer } from './tokenizer.js';

/** Longest delay a Node.js timer can hold; a longer deadline is no deadline. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface IntakeLimits {
  chunkedPrefill: boolean;
  maxBatchTokens: number;
  /** Longest prompt accepted (below the context). */
  maxPromptTokens?: number;
  /** Cap on maxTokens, and its default when a request gives none. */
  maxOutputTokens?: number;
  /** maxTokens when a request gives none (clamped to the room left); 256 by default. */
  defaultMaxTokens?: number;
}

export function validateRequest(
  prompt: string | ArrayLike<number>,
  params: SamplingParams,
  id: number,
  tokenizer: Tokenizer,
  info: ExecutorInfo,
  limits: IntakeLimits,
): { tokens: number[]; sampling: ResolvedSampling } {
  const tokens = validatePrompt(prompt, tokenizer, info.vocabSize);
  const { vocabSize, contextLength, numPages, pageSize } = info;
  if (tokens.length >= contextLength) {
    throw new CapacityError(`prompt (${tokens.length} tokens) leaves no room for output in the context of ${contextLength}`, 'ERR_CONTEXT_LENGTH');
  }
  if (limits.maxPromptTokens !== undefined && tokens.length > limits.maxPromptTokens) {
    throw new CapacityError(`prompt (${tokens.length} tokens) exceeds maxPromptTokens (${limits.maxPromptTokens})`, 'ERR_CONTEXT_LENGTH');
  }
  const maxNewTokens = Math.min(contextLength - tokens.length, limits.maxOutputTokens ?? Infinity);
  const sampling = resolveSampling(params, { vocabSize, maxNewTokens, defaultSeed: id, defaultMaxTokens: limits.defaultMaxTokens });
  if (limits.maxOutputTokens !== undefined && sampling.maxTokens > limits.maxOutputTokens) {
    throw new CapacityError(`maxTokens (${sampling.maxTokens}) exceeds maxOutputTokens (${limits.maxOutputTokens})`, 'ERR_CONTEXT_LENGTH');
  }
  const total = tokens.length + sampling.maxTokens;
  if (total > contextLength) {
    throw new CapacityError(`prompt (${tokens.length} tokens) + maxTokens (${sampling.maxTokens}) exceeds the context of ${contextLength}`, 'ERR_CONTEXT_LENGTH');
  }
  if (pagesFor(total, pageSize) > numPages) {
    throw new CapacityError(`request needs ${pagesFor(total, pageSize)} KV pages; the pool has ${numPages}`, 'ERR_KV_CAPACITY');
  }
  if (!limits.chunkedPrefill && total > limits.maxBatchTokens) {
    throw new CapacityError(`without chunked prefill a request must fit maxBatchTokens (${limits.maxBatchTokens})`, 'ERR_BATCH_CAPACITY');
  }
  return { tokens, sampling };
}

/**
 * A request's deadline: a positive number of milliseconds (Infinity, or more than a timer
 * can hold, means none). Returns the delay to arm a timer with, or undefined for none.
 */
export function validateTimeout(timeoutMs: unknown, param = 'timeoutMs'): number | undefined {
  if (timeoutMs === undefined) return undefined;
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs <= 0) {
    throw new InvalidRequestError(`${param} must be a number of milliseconds > 0, got ${String(timeoutMs)}`, param);
  }
  return timeoutMs > MAX_TIMER_MS ? undefined : timeoutMs;
}

function validatePrompt(prompt: string | ArrayLike<number>, tokenizer: Tokenizer, vocab: number): number[] {
  if (typeof prompt !== 'string' && (prompt === null || typeof prompt !== 'object' || typeof prompt.length !== 'number')) {
    throw new InvalidRequestError('prompt must be a string or an array of token ids', 'prompt');
  }
  const tokens = typeof prompt === 'string' ? tokenizer.encode(prompt) : Array.from(prompt);
  if (tokens.length === 0) throw new InvalidRequestError('prompt is empty', 'prompt');
  for (const token of tokens) {
    if (!Number.isInteger(token) || token < 0 || token >= vocab) {
      throw new InvalidRequestError(`prompt token ${String(token)} is outside the vocabulary [0, ${vocab})`, 'prompt');
    }
  }
  return tokens;
}
