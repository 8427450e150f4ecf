/**
 * Loader fuzz: fast-check mutations of valid model files written here (a tiny HF folder:
 * config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
 * generation_config.json; and a tiny GGUF). Loading each mutant must either work or fail
 * with a ModelLoadError naming a file, never another error, a crash or a hang; a mutant
 * that loads must then serve a few tokens (or fail with a typed error).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelLoadError, NanoServingEngine, NanoServingError } from '../../src/index.js';
import type { ModelConfig } from '../../src/models/config.js';
import { exportModel } from '../../src/models/export.js';
import { loadGgufModel } from '../../src/models/gguf-loader.js';
import { loadHfModel } from '../../src/models/hf.js';
import { loadAnyTokenizer } from '../../src/tokenizer/load.js';
import { applyBytes, applyJson, byteMutationArb, jsonMutationArb, type ByteMutation, type JsonMutation } from './loader-mutations.js';

const RUNS = Number(process.env.NANO_FUZZ_RUNS ?? 1);
/** GGUF export writes llama models: a tiny one with grouped KV heads. */
const TINY_LLAMA: ModelConfig = {
  family: 'llama', vocabSize: 320, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, intermediateSize: 96,
  contextLength: 256, normEps: 1e-5, ropeTheta: 10000, ropeNeox: false, tieEmbeddings: false, qkvBias: false,
};
let root: string;
let hfDir: string;
let ggufFile: string;
let caseNo = 0;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'nano-loader-fuzz-'));
  hfDir = exportModel({ preset: 'tiny', format: 'safetensors', outDir: join(root, 'hf') }).model;
  ggufFile = exportModel({ config: TINY_LLAMA, format: 'gguf', outDir: join(root, 'gguf') }).model;
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** A copy of the HF folder with one file replaced. */
function mutantFolder(file: string, contents: Buffer | string): string {
  const dir = join(root, `case-${caseNo++}`);
  mkdirSync(dir);
  for (const name of readdirSync(hfDir)) if (name !== file) copyFileSync(join(hfDir, name), join(dir, name));
  writeFileSync(join(dir, file), contents);
  return dir;
}

async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`hang: ${what} took over ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Loads, then (if it loaded) serves a few tokens. Throws with a description when anything is not as promised. */
async function checkMutant(where: string, load: () => Promise<unknown>, model: string): Promise<'loaded' | 'refused'> {
  try {
    await withDeadline(load(), 30_000, `loading ${where}`);
  } catch (error) {
    if (!(error instanceof ModelLoadError)) throw new Error(`${where}: untyped ${(error as Error)?.name}: ${(error as Error)?.message}`);
    if (error.code !== 'ERR_MODEL_LOAD' || !error.message.includes(root)) throw new Error(`${where}: the error does not name a file: ${error.message}`);
    rmSync(model, { recursive: true, force: true });
    return 'refused';
  }
  await serveFew(where, model);
  rmSync(model, { recursive: true, force: true });
  return 'loaded';
}

async function serveFew(where: string, model: string): Promise<void> {
  let engine: NanoServingEngine | undefined;
  try {
    engine = await withDeadline(NanoServingEngine.create({ model, kvCachePages: 16, pageSize: 8, threads: 1 }), 30_000, `creating an engine on ${where}`);
    const vocab = engine.info.vocabSize;
    for (const prompt of [[1, 2, 3], 'Hello, world! 0123456789 \u00e9\u4e2d\ud83d\ude00']) {
      const result = await withDeadline(engine.submit(prompt, { maxTokens: 3, ignoreEos: true }).done, 30_000, `generating on ${where}`);
      if (result.tokens.some((t) => !Number.isInteger(t) || t < 0 || t >= vocab)) throw new Error(`${where}: tokens outside the vocabulary ${result.tokens}`);
    }
  } catch (error) {
    if (!(error instanceof NanoServingError)) throw new Error(`${where}: loaded, then untyped ${(error as Error)?.name}: ${(error as Error)?.message}`);
  } finally {
    await engine?.close();
  }
}

const tally = { loaded: 0, refused: 0 };
const count = (outcome: 'loaded' | 'refused'): void => void tally[outcome]++;

const JSON_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'];

describe('loader fuzz: mutated model files give a ModelLoadError or load, never a crash or hang', { timeout: 240_000 }, () => {
  it('the unmutated files load and serve', async () => {
    expect(await checkMutant('the original folder', () => loadHfModel(mutantFolder('config.json', readFileSync(join(hfDir, 'config.json')))), join(root, `case-${caseNo - 1}`))).toBe('loaded');
  });

  it('model.safetensors: byte flips, truncation, insertion, zeroed runs, a rewritten header length', async () => {
    const original = readFileSync(join(hfDir, 'model.safetensors'));
    await fc.assert(
      fc.asyncProperty(byteMutationArb([0]), async (m: ByteMutation) => {
        const dir = mutantFolder('model.safetensors', applyBytes(original, m));
        count(await checkMutant(`model.safetensors ${JSON.stringify(m, bigints)}`, () => loadHfModel(dir), dir));
      }),
      { numRuns: 40 * RUNS },
    );
  });

  it('model.safetensors: header entries deleted or replaced (dtype, shape, offsets, names)', async () => {
    const original = readFileSync(join(hfDir, 'model.safetensors'));
    const headerLength = Number(original.readBigUInt64LE(0));
    const header = original.toString('utf8', 8, 8 + headerLength);
    const data = original.subarray(8 + headerLength);
    await fc.assert(
      fc.asyncProperty(jsonMutationArb, async (m: JsonMutation) => {
        const text = Buffer.from(applyJson(header, m));
        const length = Buffer.alloc(8);
        length.writeBigUInt64LE(BigInt(text.length));
        const dir = mutantFolder('model.safetensors', Buffer.concat([length, text, data]));
        count(await checkMutant(`safetensors header ${JSON.stringify(m)}`, () => loadHfModel(dir), dir));
      }),
      { numRuns: 40 * RUNS },
    );
  });

  for (const file of JSON_FILES) {
    it(`${file}: values deleted, replaced by other types, text cut; bytes flipped`, async () => {
      const original = readFileSync(join(hfDir, file), 'utf8');
      const mutation = fc.oneof(jsonMutationArb.map((m) => ({ json: m })), byteMutationArb([0]).map((m) => ({ bytes: m })));
      await fc.assert(
        fc.asyncProperty(mutation, async (m) => {
          const contents = 'json' in m ? applyJson(original, m.json) : applyBytes(Buffer.from(original), m.bytes);
          const dir = mutantFolder(file, contents);
          count(await checkMutant(`${file} ${JSON.stringify(m, bigints)}`, () => loadHfModel(dir), dir));
        }),
        { numRuns: (file === 'tokenizer.json' ? 40 : 20) * RUNS },
      );
    });
  }

  it('tokenizer.json alone: a mutant that loads encodes and decodes short texts', async () => {
    const original = readFileSync(join(hfDir, 'tokenizer.json'), 'utf8');
    await fc.assert(
      fc.asyncProperty(jsonMutationArb, fc.string({ maxLength: 16 }), async (m, text) => {
        const dir = mutantFolder('tokenizer.json', applyJson(original, m));
        const file = join(dir, 'tokenizer.json');
        try {
          const tokenizer = await loadAnyTokenizer(file);
          const ids = tokenizer.encode(text);
          if (ids.some((id) => !Number.isInteger(id) || id < 0 || id >= tokenizer.vocabSize)) throw new Error(`ids outside the vocabulary: ${ids}`);
          const decoder = tokenizer.createDecoder();
          for (const id of ids) decoder.push(id);
          decoder.flush();
        } catch (error) {
          if (!(error instanceof ModelLoadError)) throw new Error(`tokenizer.json ${JSON.stringify(m)} on ${JSON.stringify(text)}: untyped ${(error as Error)?.name}: ${(error as Error)?.message}`);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 40 * RUNS },
    );
  });

  it('GGUF: byte flips, truncation, insertion, zeroed runs, rewritten counts and lengths', async () => {
    const original = readFileSync(ggufFile);
    await fc.assert(
      fc.asyncProperty(byteMutationArb([8, 16, 24]), async (m: ByteMutation) => {
        const dir = join(root, `case-${caseNo++}`);
        mkdirSync(dir);
        const file = join(dir, 'model.gguf');
        writeFileSync(file, applyBytes(original, m));
        count(await checkMutant(`GGUF ${JSON.stringify(m, bigints)}`, () => loadGgufModel(file), file).finally(() => rmSync(dir, { recursive: true, force: true })));
      }),
      { numRuns: 50 * RUNS },
    );
    console.log(`loader fuzz: ${tally.loaded} mutants loaded and served, ${tally.refused} refused with a ModelLoadError`);
  });
});

function bigints(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value;
}
