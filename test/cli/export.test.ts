import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { NanoServingEngine } from '../../src/index.js';

describe('nano-serving export', () => {
  it('writes a preset as an HF folder that loads and serves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nano-export-'));
    let out = '';
    const io = { out: { write: (t: string) => void (out += t) }, err: { write: () => undefined }, isTty: false } as never;
    try {
      await buildProgram(io, '0.0.0').parseAsync(['node', 'nano-serving', 'export', '--preset', 'tiny', '--format', 'safetensors', '--out', dir]);
      expect(JSON.parse(out).model).toBe(dir);
      expect(existsSync(join(dir, 'model.safetensors'))).toBe(true);
      const engine = await NanoServingEngine.create({ model: dir, kvCachePages: 32, threads: 1 });
      expect((await engine.submit('hi', { maxTokens: 4 }).done).outputTokens).toBe(4);
      await engine.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
