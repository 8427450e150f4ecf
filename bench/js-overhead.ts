/**
 * The JS layer's cost per generated token: the whole engine (actors, scheduler, streams,
 * page accounting) on an executor that does no model work, minus the executor's own time.
 *   npm run build:ts && node dist/bench/js-overhead.js [--requests 256] [--tokens 64]
 */
import { EngineCore } from '../src/engine/core.js';
import { ByteTokenizer } from '../src/engine/tokenizer.js';
import type { Executor, StepInput, StepOutput } from '../src/executor/step.js';

/** Returns one fixed token per sampled sequence: the cheapest executor that honours the contract. */
class NullExecutor implements Executor {
  readonly info = { vocabSize: 256, contextLength: 4096, numPages: 8192, pageSize: 16, maxBatchTokens: 65536, maxSeqs: 1024 };
  timeMs = 0;
  async step(input: StepInput): Promise<StepOutput> {
    const t0 = performance.now();
    let numSampled = 0;
    for (let s = 0; s < input.isSampled.length; s++) numSampled += input.isSampled[s];
    const out = { tokens: new Int32Array(numSampled).fill(65), logprobs: new Float32Array(numSampled), topK: 0, topIds: new Int32Array(0), topLogprobs: new Float32Array(0) };
    this.timeMs += performance.now() - t0;
    return out;
  }
  close(): void {}
}

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

async function measure(numRequests: number, numTokens: number, subscribe: boolean): Promise<{ usPerToken: number; tokensPerSec: number }> {
  const executor = new NullExecutor();
  const core = new EngineCore(executor, new ByteTokenizer(256), { maxBatchTokens: 8192, maxRunning: 1024, maxChunkSize: 256, chunkedPrefill: true, prefixCache: true, maxWaiting: Infinity });
  const started = performance.now();
  const handles = Array.from({ length: numRequests }, (_, i) => core.submit(`request ${i}: `.padEnd(48, 'x'), { maxTokens: numTokens, ignoreEos: true }));
  if (subscribe) for (const h of handles) h.tokens$.subscribe();
  await Promise.all(handles.map((h) => h.done));
  const wallMs = performance.now() - started;
  const generated = core.stats().generatedTokens;
  await core.close();
  return { usPerToken: ((wallMs - executor.timeMs) * 1000) / generated, tokensPerSec: (generated * 1000) / wallMs };
}

const numRequests = arg('requests', 256);
const numTokens = arg('tokens', 64);
await measure(32, 16, true); // warm up the JIT
const rows = [];
for (const subscribe of [false, true]) {
  const runs = [];
  for (let i = 0; i < 3; i++) runs.push(await measure(numRequests, numTokens, subscribe));
  runs.sort((a, b) => a.usPerToken - b.usPerToken);
  rows.push({ requests: numRequests, tokensEach: numTokens, subscribers: subscribe ? 1 : 0, 'JS µs/token (median of 3)': runs[1].usPerToken.toFixed(2), 'tokens/s': Math.round(runs[1].tokensPerSec) });
}
console.table(rows);
