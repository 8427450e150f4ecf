/**
 * A live status line (requests done, running, waiting, tokens/s), redrawn in place on a
 * terminal; nothing at all when the output is not a TTY (logs and pipes stay clean).
 */
import type { EngineStats } from '../engine/stats.js';
import type { Output } from './output.js';

export interface ProgressLine {
  stop(): void;
}

export function progressLine(output: Output, stats: () => EngineStats, intervalMs = 500): ProgressLine {
  if (!output.isTTY) return { stop: () => undefined };
  let lastTokens = stats().generatedTokens;
  let lastAt = performance.now();
  const draw = (): void => {
    const now = stats();
    const at = performance.now();
    const rate = ((now.generatedTokens - lastTokens) * 1000) / Math.max(1, at - lastAt);
    lastTokens = now.generatedTokens;
    lastAt = at;
    output.write(`\r\x1b[2K${describe(now, rate)}`);
  };
  const timer = setInterval(draw, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      output.write('\r\x1b[2K');
    },
  };
}

export function describe(stats: EngineStats, tokensPerSecond: number): string {
  const { finished, aborted, timedOut, failed } = stats.requests;
  const done = finished + aborted + timedOut + failed;
  return `requests done ${done} · running ${stats.running} · waiting ${stats.waiting} · ${tokensPerSecond.toFixed(0)} tok/s · cache hit ${(stats.cacheHitRate * 100).toFixed(1)} %`;
}
