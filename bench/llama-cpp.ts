/**
 * llama.cpp through node-llama-cpp 3.21.1, driven the way the bench drives our engine.
 *
 * How parallel sequences are driven: one context with `sequences: N` (contextSize is per
 * sequence); each in-flight request owns one sequence and iterates
 * `sequence.evaluate(promptTokens, { temperature: 0, yieldEogToken: true })`, breaking after
 * its output length, then `clearHistory()` for the next request. node-llama-cpp queues the
 * pending tokens of every sequence and merges them into one llama_decode call per step
 * (its default "maximumParallelism" batching), so N concurrent sequences share each step.
 *
 * Prompt reuse, as llama-server's `cache_prompt` does per slot: a sequence keeps its last
 * request's KV; the next request on it erases only what follows the longest common prefix
 * and evaluates the rest. Sequences never share KV with each other (node-llama-cpp has no
 * cross-sequence prefix cache), which is what the shared-prefix comparison measures.
 */
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { drive } from './drive.js';
import { summarize, type ClientMetrics } from './metrics.js';
import type { BenchRequest } from './workloads.js';

export interface LlamaCppRuntime {
  llama: Llama;
  model: LlamaModel;
}

/** Loads the prebuilt CPU binary (never builds, never downloads) and the GGUF file. */
export async function loadLlamaCpp(ggufPath: string): Promise<LlamaCppRuntime> {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  const model = await llama.loadModel({ modelPath: ggufPath, gpuLayers: 0 });
  return { llama, model };
}

export async function disposeLlamaCpp(runtime: LlamaCppRuntime): Promise<void> {
  await runtime.model.dispose();
  await runtime.llama.dispose();
}

export interface LlamaCppContextOptions {
  sequences: number;
  /** Tokens per sequence. */
  contextSize: number;
  threads: number;
  /** Tokens per llama_decode call (default: enough for every sequence's step, at least 512). */
  batchSize?: number;
  /** KV cache element type of keys and values (default: node-llama-cpp's, F16). */
  kvCacheType?: 'F32' | 'F16' | 'BF16';
}

export async function createContext(runtime: LlamaCppRuntime, options: LlamaCppContextOptions): Promise<LlamaContext> {
  return runtime.model.createContext({
    sequences: options.sequences,
    contextSize: options.contextSize,
    batchSize: options.batchSize ?? Math.max(512, options.sequences),
    threads: { ideal: options.threads, min: options.threads },
    flashAttention: false,
    ...(options.kvCacheType ? { experimentalKvCacheKeyType: options.kvCacheType, experimentalKvCacheValueType: options.kvCacheType } : {}),
  });
}

function commonPrefix(held: readonly number[], prompt: readonly number[]): number {
  let n = 0;
  while (n < held.length && n < prompt.length && held[n] === prompt[n]) n++;
  return n;
}

/** The free sequence holding the longest prefix of `prompt` (llama-server's slot choice by similarity). */
function takeBestSequence(free: LlamaContextSequence[], prompt: readonly number[]): LlamaContextSequence {
  let best = free.length - 1;
  let bestLen = -1;
  for (let i = 0; i < free.length; i++) {
    const len = commonPrefix(free[i].contextTokens, prompt);
    if (len > bestLen) [best, bestLen] = [i, len];
  }
  return free.splice(best, 1)[0];
}

/** Keeps the sequence's KV up to the longest common prefix with `prompt` (at least one token left to evaluate); returns the tokens to evaluate. */
async function reusePrefix(sequence: LlamaContextSequence, prompt: readonly number[]): Promise<number[]> {
  const held = sequence.contextTokens;
  const common = Math.min(commonPrefix(held, prompt), prompt.length - 1);
  if (common < held.length) await sequence.eraseContextTokenRanges([{ start: common, end: held.length }]);
  return prompt.slice(common);
}

/**
 * One request on one sequence: greedy, EOS ignored (yielded and fed back like any token).
 * `onToken` is called on each token. With `reuse`, the sequence's common prefix is kept
 * from its previous request; without, the sequence is cleared first.
 */
export async function generateOn(
  sequence: LlamaContextSequence,
  prompt: readonly number[],
  maxTokens: number,
  onToken?: (token: number) => void,
  reuse = false,
): Promise<number[]> {
  const out: number[] = [];
  const tokens = reuse ? await reusePrefix(sequence, prompt) : prompt.slice();
  if (!reuse) await sequence.clearHistory();
  for await (const token of sequence.evaluate(tokens as Token[], { temperature: 0, yieldEogToken: true })) {
    out.push(token);
    onToken?.(token);
    if (out.length >= maxTokens) break;
  }
  return out;
}

export interface LlamaCppRunOptions {
  concurrency: number;
  threads: number;
  /** Tokens per sequence. */
  contextSize: number;
  reusePrompts: boolean;
}

/** One run on a fresh context with one sequence per concurrent request. */
export async function runLlamaCpp(runtime: LlamaCppRuntime, requests: readonly BenchRequest[], options: LlamaCppRunOptions): Promise<ClientMetrics> {
  const context = await createContext(runtime, { sequences: options.concurrency, contextSize: options.contextSize, threads: options.threads });
  try {
    const free = Array.from({ length: options.concurrency }, () => context.getSequence());
    await generateOn(free[0], [5, 6, 7, 8, 9, 10, 11, 12], 4); // warm-up
    await free[0].clearHistory();
    const { records, startedAt } = await drive(requests, options.concurrency, async (request, onToken) => {
      if (free.length === 0) throw new Error('llama.cpp driver: more requests in flight than sequences');
      const sequence = takeBestSequence(free, request.prompt);
      try {
        await generateOn(sequence, request.prompt, request.maxTokens, onToken, options.reusePrompts);
      } finally {
        free.push(sequence);
      }
    });
    return summarize(records, startedAt);
  } finally {
    await context.dispose();
  }
}

/** Greedy tokens of one prompt on a fresh one-sequence context. */
export async function greedyTokens(runtime: LlamaCppRuntime, prompt: readonly number[], maxTokens: number, threads: number): Promise<number[]> {
  const context = await createContext(runtime, { sequences: 1, contextSize: prompt.length + maxTokens + 16, threads });
  try {
    return await generateOn(context.getSequence(), prompt, maxTokens);
  } finally {
    await context.dispose();
  }
}
