/** `nano-serving bench`: hands its arguments to the benchmark runner (dist/bench/run.js) when it is built. */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Io } from './output.js';

/** The package root: the nearest folder above this file whose package.json is nano-serving's. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'nano-serving') return dir;
    dir = dirname(dir);
  }
  throw new Error('nano-serving: cannot find the package root');
}

export function benchRunnerPath(): string {
  return join(packageRoot(), 'dist', 'bench', 'run.js');
}

/** Runs the benchmarks with `args`; resolves with their exit code (1 when they are not built). */
export async function runBench(args: readonly string[], io: Io, runner = benchRunnerPath()): Promise<number> {
  if (!existsSync(runner)) {
    io.err.write(`nano-serving: benchmarks are not built (no ${runner}); run \`npm run build:ts\` in the package, or \`npm run bench\`\n`);
    return 1;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [runner, ...args], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
