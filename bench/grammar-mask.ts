/**
 * Constrained decoding's cost per step: 32 concurrent JSON-schema requests on real 32k
 * (Llama 2, SentencePiece) and 128k (Llama 3, byte-level BPE) vocabularies, taken from
 * llama.cpp's vocabulary files inside node-llama-cpp's source bundle.
 *
 *   npm run build:ts && node dist/bench/grammar-mask.js [--steps 64] [--seqs 32]
 *
 * Measures, side by side in one run: XGrammar's mask computation for all sequences of a
 * step (JS/WASM); a decode step of a one-layer model with that vocabulary (so the LM head and
 * sampler dominate) alone, with its masks computed before it (serial), and with its masks
 * computed while its forward pass runs (overlapped: the sampler waits for them); and the
 * grammar setup costs. Medians over the steps.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { NativeExecutor } from '../src/executor/native.js';
import type { StepInput } from '../src/executor/step.js';
import { GrammarEngine } from '../src/grammar/grammar-engine.js';
import type { GrammarState } from '../src/grammar/grammar-state.js';
import type { Tokenizer } from '../src/engine/tokenizer.js';
import type { ModelConfig } from '../src/models/config.js';
import { readGguf } from '../src/models/gguf-reader.js';
import { syntheticTensors } from '../src/models/synthetic.js';
import { symbolsToBytes } from '../src/tokenizer/byte-level.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number): number => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const STEPS = arg('steps', 64);
const SEQS = arg('seqs', 32);

const SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 40 },
    age: { type: 'integer', minimum: 0, maximum: 150 },
    tags: { type: 'array', items: { type: 'string', maxLength: 12 }, maxItems: 4 },
    address: { type: 'object', properties: { city: { type: 'string' }, zip: { type: 'string', pattern: '[0-9]{5}' } }, required: ['city', 'zip'] },
    active: { type: 'boolean' },
  },
  required: ['name', 'age', 'tags', 'address', 'active'],
  additionalProperties: false,
};

/** A tokenizer view of a GGUF vocabulary file: token bytes and EOS, which is all the grammar needs. */
async function vocabTokenizer(file: string): Promise<Tokenizer & { name: string }> {
  const gguf = await readGguf(file);
  const model = String(gguf.metadata.get('tokenizer.ggml.model'));
  const tokens = gguf.metadata.get('tokenizer.ggml.tokens') as string[];
  const types = (gguf.metadata.get('tokenizer.ggml.token_type') as number[] | undefined) ?? [];
  const eos = Number(gguf.metadata.get('tokenizer.ggml.eos_token_id'));
  const utf8 = new TextEncoder();
  const bytes = tokens.map((t, id): Uint8Array | null => {
    if (types[id] === 3 || types[id] === 5) return null; // control, unused
    if (model === 'gpt2') return symbolsToBytes(t);
    const byte = /^<0x([0-9A-F]{2})>$/.exec(t);
    return byte ? Uint8Array.of(parseInt(byte[1], 16)) : utf8.encode(t.replaceAll('\u2581', ' '));
  });
  return {
    name: `${model} ${tokens.length}`,
    vocabSize: tokens.length,
    eosTokenIds: [eos],
    encode: () => [],
    createDecoder: () => ({ push: () => '', flush: () => '' }),
    tokenBytes: (id) => bytes[id],
  };
}

function extract(bundle: string, path: string, dir: string): string {
  const repo = join(dir, 'llama');
  execFileSync('git', ['clone', '-q', '--no-checkout', bundle, repo]);
  const out = join(dir, path.split('/').pop()!);
  execFileSync('sh', ['-c', `git -C "${repo}" show HEAD:${path} > "${out}"`]);
  return out;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A decode step of SEQS sequences at positions 1..SEQS, one page each. */
function decodeStep(numSeqs: number, vocab: number): StepInput {
  const n = numSeqs;
  return {
    tokens: Int32Array.from({ length: n }, (_, s) => (s * 7919) % vocab), positions: Int32Array.from({ length: n }, () => 0),
    seqStart: Int32Array.from({ length: n + 1 }, (_, s) => s), pageTable: Int32Array.from({ length: n }, (_, s) => s),
    pageStart: Int32Array.from({ length: n + 1 }, (_, s) => s), isSampled: new Uint8Array(n).fill(1),
    temperature: new Float32Array(n).fill(0.8), topK: new Int32Array(n), topP: new Float32Array(n).fill(0.95), minP: new Float32Array(n),
    seed: Float64Array.from({ length: n }, (_, s) => s), presencePenalty: new Float32Array(n), frequencyPenalty: new Float32Array(n),
    repetitionPenalty: new Float32Array(n).fill(1), historyTokens: new Int32Array(0), historyStart: new Int32Array(n + 1),
    historyPromptLen: new Int32Array(n), numTopLogprobs: new Int32Array(n), returnLogits: false,
  };
}

async function measure(tokenizer: Tokenizer & { name: string }): Promise<Record<string, number | string>> {
  const vocab = tokenizer.vocabSize;
  let t0 = performance.now();
  const grammars = await GrammarEngine.create(tokenizer, vocab);
  const setupMs = performance.now() - t0;
  t0 = performance.now();
  await grammars.compile({ type: 'json_schema', schema: SCHEMA, strict: true });
  const compileMs = performance.now() - t0;
  const config: ModelConfig = {
    family: 'llama', vocabSize: vocab, hiddenSize: 64, numLayers: 1, numHeads: 2, numKvHeads: 2, headDim: 32,
    intermediateSize: 128, contextLength: 64, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: true, qkvBias: false,
  };
  const executor = NativeExecutor.create({ config, tensors: syntheticTensors(config, 1), numPages: SEQS, pageSize: 16, numThreads: 2, maxBatchTokens: SEQS, maxSeqs: SEQS });
  const words = Math.ceil(vocab / 32);
  const input = decodeStep(SEQS, vocab);
  const maskRow = Int32Array.from({ length: SEQS }, (_, s) => s);
  const format = { type: 'json_schema' as const, schema: SCHEMA, strict: true };

  /** STEPS decode steps of SEQS constrained sequences; masks computed before the step (serial) or while it runs (overlapped). */
  async function run(mode: 'serial' | 'overlapped'): Promise<{ stepMs: number[]; maskMs: number[]; plainMs: number[] }> {
    const states: GrammarState[] = [];
    for (let s = 0; s < SEQS; s++) states.push(await grammars.createState(format));
    const tokenMask = new Uint32Array(new SharedArrayBuffer(SEQS * words * 4));
    const out = { stepMs: [] as number[], maskMs: [] as number[], plainMs: [] as number[] };
    let rand = 12345;
    const fill = async (): Promise<void> => {
      const t = performance.now();
      const masks = await Promise.all(states.map((state) => state.nextMask()));
      masks.forEach((m, s) => tokenMask.set(m.subarray(0, words), s * words));
      out.maskMs.push(performance.now() - t);
    };
    for (let step = 0; step < STEPS; step++) {
      let t0 = performance.now();
      let sampled: Int32Array;
      if (mode === 'serial') {
        await fill();
        sampled = (await executor.step({ ...input, tokenMask: tokenMask.slice(), maskRow })).tokens;
      } else {
        const maskReady = new Int32Array(new SharedArrayBuffer(4));
        const pending = executor.step({ ...input, tokenMask, maskRow, maskReady });
        await fill();
        Atomics.store(maskReady, 0, 1);
        sampled = (await pending).tokens;
      }
      out.stepMs.push(performance.now() - t0);
      t0 = performance.now();
      await executor.step(input);
      out.plainMs.push(performance.now() - t0);
      states.forEach((state, s) => {
        if (state.isTerminated) return;
        // The sampled token is from a random model; steer half the sequences to the lowest allowed id (short tokens, deep JSON).
        rand = (rand * 1103515245 + 12345) % 2 ** 31;
        let token = sampled[s];
        if (rand % 2 === 0) for (let t = 0; t < vocab; t++) if ((tokenMask[s * words + (t >> 5)] >>> (t & 31)) & 1) { token = t; break; }
        state.accept(token);
      });
    }
    for (const state of states) state.dispose();
    return out;
  }

  const serial = await run('serial');
  const overlapped = await run('overlapped');
  executor.close();
  const maskMs = serial.maskMs;
  const mask = median(maskMs);
  return {
    vocabulary: tokenizer.name,
    'setup ms': +setupMs.toFixed(0),
    'schema compile ms': +compileMs.toFixed(0),
    [`masks of ${SEQS} seqs, ms/step`]: +mask.toFixed(2),
    'per mask, µs': +((mask * 1000) / SEQS).toFixed(0),
    'native step alone, ms': +median([...serial.plainMs, ...overlapped.plainMs]).toFixed(2),
    'step, masks before it, ms': +median(serial.stepMs).toFixed(2),
    'step, masks overlapped, ms': +median(overlapped.stepMs).toFixed(2),
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nano-vocab-'));
  try {
    const bundle = join(process.cwd(), 'node_modules/node-llama-cpp/llama/gitRelease.bundle');
    const spm = extract(bundle, 'models/ggml-vocab-llama-spm.gguf', dir);
    execFileSync('sh', ['-c', `git -C "${join(dir, 'llama')}" show HEAD:models/ggml-vocab-llama-bpe.gguf > "${join(dir, 'bpe.gguf')}"`]);
    const rows = [];
    for (const file of [spm, join(dir, 'bpe.gguf')]) rows.push(await measure(await vocabTokenizer(file)));
    console.log(`CPU: ${cpus()[0]?.model} (${cpus().length} cores), Node ${process.version}; ${STEPS} steps, ${SEQS} sequences`);
    console.table(rows);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
