/** The CLI commands called directly (no build needed): generate, demo, serve, bench, the parser and the progress line. */
import { describe, expect, test } from 'vitest';
import { runBench } from '../../src/cli/bench.js';
import { runDemo, type DemoReport } from '../../src/cli/demo.js';
import { runGenerate, type GenerateReport } from '../../src/cli/generate.js';
import { bufferOutput, type Io } from '../../src/cli/output.js';
import { buildProgram } from '../../src/cli/program.js';
import { describe as describeStats, progressLine } from '../../src/cli/progress.js';
import { runServe } from '../../src/cli/serve.js';

function io(): Io & { out: ReturnType<typeof bufferOutput>; err: ReturnType<typeof bufferOutput> } {
  return { out: bufferOutput(), err: bufferOutput() };
}

const engineFlags = { model: 'tiny', prefixCache: true, threads: 1 };

describe('generate', () => {
  test('--json prints one object with the text and counts', async () => {
    const streams = io();
    await runGenerate({ ...engineFlags, prompt: 'Hello', maxTokens: 12, json: true }, streams);
    const report = JSON.parse(streams.out.text) as GenerateReport;
    expect(report).toMatchObject({ model: 'tiny', prompt: 'Hello', promptTokens: 5, outputTokens: 12, finishReason: 'length' });
    expect(report.text.length).toBeGreaterThan(0);
    expect(streams.err.text).toBe('');
  });

  test('without --json the text is streamed, then a newline; the summary goes to stderr', async () => {
    const json = io();
    await runGenerate({ ...engineFlags, prompt: 'Hello', maxTokens: 12, json: true }, json);
    const text = io();
    await runGenerate({ ...engineFlags, prompt: 'Hello', maxTokens: 12 }, text);
    expect(text.out.text).toBe(`${(JSON.parse(json.out.text) as GenerateReport).text}\n`);
    expect(text.err.text).toMatch(/12 tokens, length/);
  });
});

describe('demo', () => {
  test('--json: three answers, the second reuses the shared system prompt from the cache', async () => {
    const streams = io();
    await runDemo({ model: 'default', prefixCache: true, json: true, maxTokens: 8 }, streams);
    const report = JSON.parse(streams.out.text) as DemoReport;
    expect(report.results).toHaveLength(3);
    for (const r of report.results) expect(r.outputTokens).toBeGreaterThan(0);
    expect(report.results[0].cachedTokens).toBe(0);
    expect(report.results[1].cachedTokens).toBeGreaterThan(0);
    expect(report.stats.cacheHitRate).toBeGreaterThan(0);
    expect(report.stats.tokensPerSecond).toBeGreaterThan(0);
    expect(report.stats.generatedTokens).toBe(report.results.reduce((a, r) => a + r.outputTokens, 0));
  });

  test('human output streams each answer under its prompt, then the stats', async () => {
    const streams = io();
    const report = await runDemo({ ...engineFlags, json: false, maxTokens: 8 }, streams);
    for (const r of report.results) expect(streams.out.text).toContain(`> ${r.prompt}\n${r.text}\n`);
    expect(streams.out.text).toMatch(/cache hit rate \d+\.\d %/);
    expect(streams.out.text).toMatch(/tok\/s/);
  });
});

describe('serve', () => {
  test('serves on 127.0.0.1 with the engine flags, then closes', async () => {
    const streams = io();
    const running = await runServe({ ...engineFlags, host: '127.0.0.1', port: 0, servedModelName: 'my-tiny', kvCachePages: 64 }, streams);
    try {
      expect(streams.err.text).toContain(`${running.server.url}/v1`);
      expect(running.engine.stats().pages.total).toBe(64);
      const response = await fetch(`${running.server.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'my-tiny', prompt: 'Hi', max_tokens: 3 }),
      });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { model: string }).model).toBe('my-tiny');
    } finally {
      await running.close();
    }
  });
});

describe('bench, parser, progress', () => {
  test('bench says the benchmarks are not built when the runner is missing', async () => {
    const streams = io();
    expect(await runBench(['--quick'], streams, '/nonexistent/run.js')).toBe(1);
    expect(streams.err.text).toMatch(/benchmarks are not built/);
  });

  test.each(['demo', 'serve', 'generate', 'bench'])('%s --help', async (command) => {
    const streams = io();
    const program = buildProgram(streams, '1.2.3', true);
    await expect(program.parseAsync(['node', 'nano-serving', command, '--help'])).rejects.toMatchObject({ code: 'commander.helpDisplayed' });
    expect(streams.out.text).toContain(`Usage: nano-serving ${command}`);
  });

  test('bad numbers are refused by the parser', async () => {
    const streams = io();
    const program = buildProgram(streams, '1.2.3', true);
    await expect(program.parseAsync(['node', 'nano-serving', 'generate', '--prompt', 'x', '--max-tokens', '-3'])).rejects.toMatchObject({
      code: 'commander.invalidArgument',
    });
    expect(streams.err.text).toMatch(/must be an integer >= 1/);
  });

  test('the progress line draws only on a TTY', async () => {
    const pipe = bufferOutput();
    progressLine(pipe, () => fakeStats).stop();
    expect(pipe.text).toBe('');
    const chunks: string[] = [];
    const tty = { isTTY: true, write: (text: string) => void chunks.push(text) };
    const line = progressLine(tty, () => fakeStats, 5);
    await new Promise((resolve) => setTimeout(resolve, 30));
    line.stop();
    expect(chunks.join('')).toContain('requests done 3 · running 1 · waiting 2');
    expect(describeStats(fakeStats, 1234.4)).toMatch(/1234 tok\/s/);
  });
});

const fakeStats = {
  requests: { submitted: 6, finished: 2, aborted: 1, failed: 0, timedOut: 0 },
  running: 1,
  waiting: 2,
  generatedTokens: 100,
  cacheHitRate: 0.5,
} as unknown as import('../../src/engine/stats.js').EngineStats;
