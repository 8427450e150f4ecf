/** `nano-serving generate`: one prompt, its text streamed as it is generated (or one JSON object with --json). */
import { NanoServingEngine } from '../engine/engine.js';
import type { RequestResult } from '../engine/handle.js';
import type { SamplingParams } from '../engine/sampling.js';
import { engineOptions, type EngineFlags } from './engine-options.js';
import type { Io } from './output.js';

export interface GenerateFlags extends EngineFlags {
  prompt: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop?: string[];
  json?: boolean;
}

export interface GenerateReport {
  model: string;
  prompt: string;
  text: string;
  finishReason: RequestResult['finishReason'];
  promptTokens: number;
  outputTokens: number;
  ttftMs: number;
  totalMs: number;
  tokensPerSecond: number;
}

export async function runGenerate(flags: GenerateFlags, io: Io): Promise<GenerateReport> {
  const engine = await NanoServingEngine.create(engineOptions(flags));
  try {
    const params: SamplingParams = { maxTokens: flags.maxTokens, temperature: flags.temperature, topP: flags.topP, topK: flags.topK, seed: flags.seed, stop: flags.stop };
    const handle = engine.submit(flags.prompt, params);
    if (!flags.json) handle.text$.subscribe({ next: (piece) => io.out.write(piece), error: () => undefined });
    const result = await handle.done;
    const report = reportOf(engine.modelName, flags.prompt, result);
    if (flags.json) io.out.write(`${JSON.stringify(report)}\n`);
    else io.out.write('\n');
    if (!flags.json) io.err.write(`[${result.outputTokens} tokens, ${result.finishReason}, ${report.tokensPerSecond.toFixed(0)} tok/s]\n`);
    return report;
  } finally {
    await engine.close();
  }
}

function reportOf(model: string, prompt: string, result: RequestResult): GenerateReport {
  return {
    model,
    prompt,
    text: result.text,
    finishReason: result.finishReason,
    promptTokens: result.promptTokens,
    outputTokens: result.outputTokens,
    ttftMs: result.metrics.ttftMs,
    totalMs: result.metrics.totalMs,
    tokensPerSecond: result.metrics.totalMs > 0 ? (result.outputTokens * 1000) / result.metrics.totalMs : 0,
  };
}
