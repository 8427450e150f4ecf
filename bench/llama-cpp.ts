/**
 * llama.cpp through node-llama-cpp 3.21.1, driven the way the bench drives our engine.
 *
 * How parallel sequences are driven: one context with `sequences: N` (contextSize is per
 * sequence); each in-flight request owns one sequence and iterates
 * `sequence.evaluate(promptTokens, { temperature: 0, yieldEogToken: true })`, breaking after
 * its output length, then `clearHistory()` for the next request. node-llama-cpp queues the
 * pending tokens of every sequence and merges them into one llama_decode call per step
 * (its default "maximumParallelism" batching), so N concurrent sequences share each step.
 */
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';

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
}

export async function createContext(runtime: LlamaCppRuntime, options: LlamaCppContextOptions): Promise<LlamaContext> {
  return runtime.model.createContext({
    sequences: options.sequences,
    contextSize: options.contextSize,
    batchSize: options.batchSize ?? Math.max(512, options.sequences),
    threads: { ideal: options.threads, min: options.threads },
    flashAttention: false,
  });
}

/**
 * One request on one sequence: greedy, EOS ignored (yielded and fed back like any token).
 * `onToken` gets each token with its arrival time. The sequence is cleared afterwards.
 */
export async function generateOn(
  sequence: LlamaContextSequence,
  prompt: readonly number[],
  maxTokens: number,
  onToken?: (token: number, now: number) => void,
): Promise<number[]> {
  const out: number[] = [];
  if (maxTokens > 0) {
    for await (const token of sequence.evaluate(prompt as Token[], { temperature: 0, yieldEogToken: true })) {
      out.push(token);
      onToken?.(token, performance.now());
      if (out.length >= maxTokens) break;
    }
  }
  await sequence.clearHistory();
  return out;
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
