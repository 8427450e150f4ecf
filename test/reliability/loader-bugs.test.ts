/**
 * Bugs the loader fuzz found in the tokenizer loader (src/tokenizer/), pinned as focused
 * tests. Each fails until src/tokenizer is fixed (see the report in the commit message).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelLoadError, NanoServingError } from '../../src/index.js';
import { exportModel } from '../../src/models/export.js';
import { loadHfModel } from '../../src/models/hf.js';
import { loadAnyTokenizer } from '../../src/tokenizer/load.js';

let root: string;
let hfDir: string;
let tokenizerJson: { model: { vocab: Record<string, number> } };

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'nano-loader-bugs-'));
  hfDir = exportModel({ preset: 'tiny', format: 'safetensors', outDir: join(root, 'hf') }).model;
  tokenizerJson = JSON.parse(readFileSync(join(hfDir, 'tokenizer.json'), 'utf8'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function writeTokenizer(edit: (json: typeof tokenizerJson) => void): string {
  const json = structuredClone(tokenizerJson);
  edit(json);
  const file = join(hfDir, 'tokenizer.json');
  writeFileSync(file, JSON.stringify(json));
  return file;
}

/** Refused at load with a ModelLoadError, or loaded and then every text encodes (or fails typed). */
async function expectTypedEverywhere(file: string, text: string): Promise<void> {
  let tokenizer: Awaited<ReturnType<typeof loadAnyTokenizer>>;
  try {
    tokenizer = await loadAnyTokenizer(file);
  } catch (error) {
    expect(error).toBeInstanceOf(ModelLoadError);
    return;
  }
  try {
    tokenizer.encode(text);
  } catch (error) {
    expect.fail(`loaded, then encode(${JSON.stringify(text)}) threw an untyped ${(error as Error).name}: ${(error as Error).message}`);
  }
}

describe('tokenizer.json defects found by the loader fuzz', () => {
  it('a byte-level vocabulary missing a byte symbol is refused at load, not a RangeError at encode (which the server turns into a 500)', async () => {
    const file = writeTokenizer((json) => delete json.model.vocab['2']);
    await expectTypedEverywhere(file, 'version 2');
    // Through a model folder and the engine, the same defect must not surface as an untyped error at submit.
    try {
      await loadHfModel(hfDir);
    } catch (error) {
      expect(error).toBeInstanceOf(ModelLoadError);
    }
  });

  it('a token id far beyond the vocabulary (2^24 in a 256-entry vocabulary) is refused with a ModelLoadError before anything is sized by it (2^31 crashes the process: out of memory in new Array(id + 1).fill)', async () => {
    const file = writeTokenizer((json) => (json.model.vocab['a'] = 2 ** 24));
    let outcome: unknown;
    try {
      outcome = await loadAnyTokenizer(file);
    } catch (error) {
      outcome = error;
    }
    expect(outcome).toBeInstanceOf(ModelLoadError);
    expect((outcome as NanoServingError).message).toContain('tokenizer.json');
  });
});
