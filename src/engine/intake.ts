/** Request intake: everything checked at submit, before anything is scheduled (typed errors). */
import { CapacityError, InvalidRequestError } from '../errors.js';
import type { ExecutorInfo } from '../executor/step.js';
import { pagesFor } from '../scheduler/view.js';
import { resolveSampling, type ResolvedSampling, type SamplingParams } from './sampling.js';
import type { Tokenizer } from './tokenizer.js';

export function validateRequest(
  prompt: string | ArrayLike<number>,
  params: SamplingParams,
  id: number,
  tokenizer: Tokenizer,
  info: ExecutorInfo,
  limits: { chunkedPrefill: boolean; maxBatchTokens: number },
): { tokens: number[]; sampling: ResolvedSampling } {
  const tokens = validatePrompt(prompt, tokenizer, info.vocabSize);
  const { vocabSize, contextLength, numPages, pageSize } = info;
  const sampling = resolveSampling(params, { vocabSize, maxNewTokens: contextLength - tokens.length, defaultSeed: id });
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
