/**
 * `nano-serving demo`: the README's usage example on the embedded default model (tiny when
 * the package ships none). One answer streamed; then two batched, one sharing the first's
 * system prompt so its KV pages come from the prefix cache; then the engine's stats.
 */
import { NanoServingEngine } from '../engine/engine.js';
import type { RequestResult } from '../engine/handle.js';
import { engineOptions, type EngineFlags } from './engine-options.js';
import type { Io, Output } from './output.js';

export interface DemoFlags extends EngineFlags {
  maxTokens?: number;
  json?: boolean;
}

export const DEMO_SYSTEM = 'You are a helpful assistant. Answer briefly and precisely. ';
export const DEMO_PROMPTS = [DEMO_SYSTEM + 'What is a KV cache?', DEMO_SYSTEM + 'What is continuous batching?', 'Write a haiku.'];

export interface DemoReport {
  model: string;
  results: Array<{ prompt: string; text: string; outputTokens: number; finishReason: string; cachedTokens: number; ttftMs: number }>;
  stats: { cacheHitRate: number; tokensPerSecond: number; stepTokensPerSecond: number; steps: number; tokensPerStep: number; ttftP50Ms: number; itlP50Ms: number; generatedTokens: number };
  elapsedMs: number;
}

export async function runDemo(flags: DemoFlags, io: Io): Promise<DemoReport> {
  const started = performance.now();
  const engine = await NanoServingEngine.create({ kvCachePages: 256, pageSize: 16, maxChunkSize: 256, maxBatchTokens: 2048, maxRunning: 64, ...engineOptions(flags) });
  try {
    const params = { maxTokens: flags.maxTokens ?? 32 };
    const out = flags.json ? undefined : io.out;
    const [first, second, third] = DEMO_PROMPTS;
    out?.write(`nano-serving demo on the "${engine.modelName}" model\n`);
    const one = await streamed(engine.submit(first, params), first, out);
    // Two batched together: the first shares the system prompt, so its pages come from the cache.
    const two = engine.submit(second, params);
    const three = engine.submit(third, params);
    const results = [one, await streamed(two, second, out), await streamed(three, third, out)];
    const report = reportOf(engine, results, performance.now() - started);
    if (flags.json) io.out.write(`${JSON.stringify(report)}\n`);
    else printSummary(report, io.out);
    return report;
  } finally {
    await engine.close();
  }
}

/** Writes the prompt, then the answer as it comes (or all at once if it is already done). */
async function streamed(handle: ReturnType<NanoServingEngine['submit']>, prompt: string, out: Output | undefined): Promise<RequestResult> {
  out?.write(`\n> ${prompt}\n`);
  if (out) handle.text$.subscribe({ next: (piece) => out.write(piece), error: () => undefined });
  const result = await handle.done;
  out?.write('\n');
  return result;
}

function reportOf(engine: NanoServingEngine, results: RequestResult[], elapsedMs: number): DemoReport {
  const stats = engine.stats();
  return {
    model: engine.modelName,
    results: results.map((r, i) => ({
      prompt: DEMO_PROMPTS[i],
      text: r.text,
      outputTokens: r.outputTokens,
      finishReason: r.finishReason,
      cachedTokens: r.metrics.cachedTokens,
      ttftMs: r.metrics.ttftMs,
    })),
    stats: {
      cacheHitRate: stats.cacheHitRate,
      tokensPerSecond: (stats.generatedTokens * 1000) / elapsedMs,
      stepTokensPerSecond: stats.throughput,
      steps: stats.steps,
      tokensPerStep: stats.tokensPerStep,
      ttftP50Ms: stats.ttft.p50,
      itlP50Ms: stats.itl.p50,
      generatedTokens: stats.generatedTokens,
    },
    elapsedMs,
  };
}

function printSummary(report: DemoReport, out: Output): void {
  out.write('\n');
  report.results.forEach((r, i) => {
    out.write(`#${i + 1}: ${r.outputTokens} tokens, ${r.finishReason}, ${r.cachedTokens} prompt tokens from the cache, first token after ${r.ttftMs.toFixed(1)} ms\n`);
  });
  const s = report.stats;
  out.write(
    `cache hit rate ${(s.cacheHitRate * 100).toFixed(1)} % · ${s.generatedTokens} tokens in ${report.elapsedMs.toFixed(0)} ms (${s.tokensPerSecond.toFixed(0)} tok/s overall, ` +
      `${s.stepTokensPerSecond.toFixed(0)} tok/s in steps) · ${s.steps} steps, ${s.tokensPerStep.toFixed(1)} tokens/step · TTFT p50 ${s.ttftP50Ms.toFixed(1)} ms, ITL p50 ${s.itlP50Ms.toFixed(2)} ms\n`,
  );
}
