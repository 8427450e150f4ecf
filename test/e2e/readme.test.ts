/** The README's usage example, run as a user would: `import ... from 'nano-serving'` through the package's exports map. */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

function usageExample(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('<!-- usage-example');
  const open = readme.indexOf('```js\n', start);
  const close = readme.indexOf('\n```', open + 6);
  return readme.slice(open + 6, close);
}

describe('README usage example', () => {
  it('runs through the published entry point and shows the prefix cache at work', async () => {
    expect(existsSync(join(root, 'dist', 'src', 'index.js')), 'dist/ is built by npm install (npm run build:ts)').toBe(true);
    const file = join(root, `.readme-example-${process.pid}.mjs`);
    writeFileSync(file, usageExample());
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [file], { cwd: root, timeout: 60_000 });
      const lines = stdout.split('\n').filter((l) => l.startsWith('#'));
      expect(lines).toHaveLength(3);
      const cached = lines.map((l) => Number(/(\d+) prompt tokens from the cache/.exec(l)?.[1]));
      expect(cached[0]).toBe(0);
      expect(cached[1]).toBeGreaterThan(0); // shares the system prompt with the first
      expect(cached[2]).toBe(0);
      const rate = Number(/cache hit rate ([\d.]+) %/.exec(stdout)?.[1]);
      expect(rate).toBeGreaterThan(0);
    } finally {
      rmSync(file, { force: true });
    }
  });
});
