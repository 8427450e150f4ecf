/** The built `nano-serving` binary (dist/src/cli/main.js), run as a user runs it. Builds the TypeScript first. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, test } from 'vitest';
import { ensureDist } from '../dist-build.js';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'dist', 'src', 'cli', 'main.js');
const run = promisify(execFile);

beforeAll(() => ensureDist(bin), 120_000);

async function cli(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { cwd: root, timeout: 60_000 });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

describe('nano-serving (built)', () => {
  test('starts with a shebang', () => {
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  test('generate --json', async () => {
    const { stdout, code } = await cli('generate', '--model', 'tiny', '--threads', '1', '--prompt', 'Hello', '--max-tokens', '7', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ model: 'tiny', promptTokens: 5, outputTokens: 7, finishReason: 'length' });
  });

  test('generate --kv-dtype q8_0 serves from an 8-bit KV cache; an unknown type is refused', async () => {
    const { stdout, code } = await cli('generate', '--model', 'default', '--threads', '1', '--kv-dtype', 'q8_0', '--prompt', 'Hello', '--max-tokens', '5', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ outputTokens: 5 });
    const bad = await cli('generate', '--model', 'tiny', '--kv-dtype', 'q4', '--prompt', 'x');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--kv-dtype.*must be one of f32, f16, bf16, q8_0/);
  });

  test('generate --sync-steps on / off give the same greedy text; an unknown mode is refused', async () => {
    const on = await cli('generate', '--model', 'default', '--threads', '1', '--sync-steps', 'on', '--prompt', 'Hello', '--max-tokens', '6', '--json');
    const off = await cli('generate', '--model', 'default', '--threads', '1', '--sync-steps', 'off', '--prompt', 'Hello', '--max-tokens', '6', '--json');
    expect([on.code, off.code]).toEqual([0, 0]);
    expect(JSON.parse(on.stdout).text).toBe(JSON.parse(off.stdout).text);
    const bad = await cli('generate', '--model', 'tiny', '--sync-steps', 'always', '--prompt', 'x');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--sync-steps.*must be one of auto, on, off/);
  });

  test('demo --json on the default model', async () => {
    const { stdout, code } = await cli('demo', '--json', '--max-tokens', '6', '--threads', '1');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.results).toHaveLength(3);
    expect(report.results[1].cachedTokens).toBeGreaterThan(0);
    expect(report.stats.cacheHitRate).toBeGreaterThan(0);
  });

  test('--help for each command; an unknown model exits 1 with a one-line error', async () => {
    for (const command of ['demo', 'serve', 'generate', 'bench']) {
      const { stdout, code } = await cli(command, '--help');
      expect(code).toBe(0);
      expect(stdout).toContain(`Usage: nano-serving ${command}`);
    }
    const bad = await cli('generate', '--prompt', 'x', '--model', 'no-such-model');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^nano-serving: unknown model "no-such-model".*\(ERR_MODEL_LOAD\)\n$/);
  });
});
