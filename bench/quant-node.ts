/**
 * Child process of bench/quant.ts: llama.cpp through node-llama-cpp (its prebuilt CPU binary)
 * on one GGUF file (argv: file, threads, KV element type f32 | f16 | bf16; flash attention
 * off). Prints one JSON line: prefill of 512 tokens and single-stream greedy decode of 32
 * tokens, tok/s, on one sequence.
 */
import type { Token } from 'node-llama-cpp';
import { createContext, disposeLlamaCpp, loadLlamaCpp } from './llama-cpp.js';

async function main(): Promise<void> {
  const [file, threadsArg, kvArg] = process.argv.slice(2);
  const threads = Number(threadsArg ?? 2), kvCacheType = (kvArg ?? 'f16').toUpperCase() as 'F32' | 'F16' | 'BF16';
  const runtime = await loadLlamaCpp(file);
  const context = await createContext(runtime, { sequences: 1, contextSize: 1024, threads, kvCacheType });
  try {
    const sequence = context.getSequence();
    const prompt = Array.from({ length: 512 }, (_, i) => 3 + ((i * 7919) % 30000)) as Token[]; // ids below both vocabularies (32000, 128256)
    let t0 = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(prompt);
    const pp = 512 / ((performance.now() - t0) / 1000);
    await sequence.clearHistory();
    let n = 0;
    t0 = performance.now();
    for await (const token of sequence.evaluate([5 as Token], { temperature: 0, yieldEogToken: true })) {
      void token;
      if (++n >= 32) break;
    }
    const tg = n / ((performance.now() - t0) / 1000);
    console.log(JSON.stringify({ pp512: pp, tg }));
  } finally {
    await context.dispose();
    await disposeLlamaCpp(runtime);
  }
}

void main();
