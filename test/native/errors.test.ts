import { describe, it, expect, afterAll } from 'vitest';
import { ExecutorError } from '../../src/errors.js';
import { NativeExecutor } from '../../src/executor/native.js';
import type { StepInput } from '../../src/executor/step.js';
import type { ModelConfig } from '../../src/models/config.js';
import { syntheticTensors } from '../../src/models/synthetic.js';

const CONFIG: ModelConfig = {
  family: 'llama', vocabSize: 300, hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, headDim: 16,
  intermediateSize: 64, contextLength: 64, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: false, qkvBias: false,
};
const TENSORS = syntheticTensors(CONFIG, 7);
const OPTIONS = { numPages: 8, pageSize: 4, numThreads: 2, maxBatchTokens: 16, maxSeqs: 2 };

/** Two sequences: a 5-token prompt at 0..4 (pages 0, 1) and a decode token at 6 (pages 2, 3). */
function goodInput(): StepInput {
  return {
    tokens: Int32Array.from([1, 2, 3, 4, 5, 9]),
    positions: Int32Array.from([0, 1, 2, 3, 4, 6]),
    seqStart: Int32Array.from([0, 5, 6]),
    pageTable: Int32Array.from([0, 1, 2, 3]),
    pageStart: Int32Array.from([0, 2, 4]),
    isSampled: Uint8Array.from([1, 1]),
    temperature: Float32Array.from([0, 0.8]),
    topK: Int32Array.from([0, 10]),
    topP: Float32Array.from([1, 0.9]),
    minP: Float32Array.from([0, 0.05]),
    seed: Float64Array.from([0, 42]),
    presencePenalty: Float32Array.from([0, 0.5]),
    frequencyPenalty: Float32Array.from([0, 0.2]),
    repetitionPenalty: Float32Array.from([1, 1.3]),
    historyTokens: Int32Array.from([1, 2, 3, 4, 5, 7, 8, 8, 9]),
    historyStart: Int32Array.from([0, 5, 9]),
    historyPromptLen: Int32Array.from([5, 2]),
    numTopLogprobs: Int32Array.from([3, 0]),
    returnLogits: false,
  };
}

function create(patch: Partial<ModelConfig> = {}, options: Record<string, unknown> = {}, tensors = TENSORS): NativeExecutor {
  return NativeExecutor.create({ config: { ...CONFIG, ...patch }, tensors, ...OPTIONS, ...options } as never);
}

function nativeCodeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ExecutorError);
    return (err as ExecutorError).nativeCode;
  }
  return 'no error';
}

describe('native executor: construction errors', () => {
  it.each([
    ['bad family', { family: 'bert' as never }],
    ['heads not a multiple of kv heads', { numHeads: 3, numKvHeads: 2 }],
    ['zero layers', { numLayers: 0 }],
    ['non-integer vocab', { vocabSize: 1.5 }],
    ['negative eps', { normEps: -1 }],
  ])('config: %s -> ERR_NATIVE_CONFIG', (_, patch) => {
    expect(nativeCodeOf(() => create(patch))).toBe('ERR_NATIVE_CONFIG');
  });

  it.each([
    ['numPages 0', { numPages: 0 }],
    ['bad weightDtype', { weightDtype: 'q4' }],
    ['numThreads 0', { numThreads: 0 }],
    ['maxBatchTokens -1', { maxBatchTokens: -1 }],
    ['bad kernel', { kernel: 'gpu' }],
  ])('options: %s -> ERR_NATIVE_CONFIG', (_, options) => {
    expect(nativeCodeOf(() => create({}, options))).toBe('ERR_NATIVE_CONFIG');
  });

  it('missing, misshapen or mistyped tensors -> ERR_NATIVE_TENSOR', () => {
    const without = { ...TENSORS };
    delete without['blk.0.ffn_gate.weight'];
    expect(nativeCodeOf(() => create({}, {}, without))).toBe('ERR_NATIVE_TENSOR');
    const wrongShape = { ...TENSORS, 'output_norm.weight': { dtype: 'f32' as const, shape: [31], data: new Float32Array(31) } };
    expect(nativeCodeOf(() => create({}, {}, wrongShape))).toBe('ERR_NATIVE_TENSOR');
    const wrongType = { ...TENSORS, 'output_norm.weight': { dtype: 'bf16' as const, shape: [32], data: new Float32Array(32) } };
    expect(nativeCodeOf(() => create({}, {}, wrongType))).toBe('ERR_NATIVE_TENSOR');
    const short = { ...TENSORS, 'output_norm.weight': { dtype: 'f32' as const, shape: [32], data: new Float32Array(30) } };
    expect(nativeCodeOf(() => create({}, {}, short))).toBe('ERR_NATIVE_TENSOR');
  });

  it('accepts f16 and bf16 tensors', () => {
    const norm = TENSORS['output_norm.weight'];
    const ones16 = (bits: number) => ({ shape: [32], data: new Uint16Array(32).fill(bits) });
    expect(() => create({}, {}, { ...TENSORS, 'output_norm.weight': { dtype: 'f16', ...ones16(0x3c00) } }).close()).not.toThrow();
    expect(() => create({}, {}, { ...TENSORS, 'output_norm.weight': { dtype: 'bf16', ...ones16(0x3f80) } }).close()).not.toThrow();
    expect(norm.dtype).toBe('f32');
  });
});

describe('native executor: step errors', () => {
  const ex = create();
  afterAll(() => ex.close());

  type Mutation = (input: StepInput) => void;
  const cases: Array<[string, string, Mutation]> = [
    ['positions length', 'ERR_NATIVE_SHAPE', (i) => { i.positions = i.positions.subarray(0, 5); }],
    ['seqStart end', 'ERR_NATIVE_SHAPE', (i) => { i.seqStart = Int32Array.from([0, 5, 5]); }],
    ['per-seq array length', 'ERR_NATIVE_SHAPE', (i) => { i.topP = Float32Array.from([1]); }],
    ['wrong typed array', 'ERR_NATIVE_SHAPE', (i) => { (i as { tokens: unknown }).tokens = [1, 2, 3, 4, 5, 9]; }],
    ['over maxSeqs', 'ERR_NATIVE_SHAPE', (i) => {
      Object.assign(i, { seqStart: Int32Array.from([0, 2, 5, 6]), pageStart: Int32Array.from([0, 2, 4, 4]), historyStart: Int32Array.from([0, 5, 9, 9]) });
    }],
    ['over maxBatchTokens', 'ERR_NATIVE_SHAPE', (i) => {
      Object.assign(i, { tokens: new Int32Array(17), positions: Int32Array.from({ length: 17 }, (_, k) => k), seqStart: Int32Array.from([0, 16, 17]) });
    }],
    ['token id too large', 'ERR_NATIVE_TOKEN', (i) => { i.tokens[2] = 300; }],
    ['negative token id', 'ERR_NATIVE_TOKEN', (i) => { i.tokens[0] = -1; }],
    ['history token outside vocab', 'ERR_NATIVE_TOKEN', (i) => { i.historyTokens[3] = 1000; }],
    ['negative position', 'ERR_NATIVE_POSITION', (i) => { i.positions[5] = -1; }],
    ['position past context', 'ERR_NATIVE_POSITION', (i) => { i.positions[5] = 64; }],
    ['positions not consecutive', 'ERR_NATIVE_POSITION', (i) => { i.positions[3] = 7; }],
    ['page table too short', 'ERR_NATIVE_POSITION', (i) => { i.positions[5] = 8; }],
    ['page id out of pool', 'ERR_NATIVE_PAGE', (i) => { i.pageTable[1] = 8; }],
    ['negative page id', 'ERR_NATIVE_PAGE', (i) => { i.pageTable[3] = -2; }],
    ['NaN temperature', 'ERR_NATIVE_PARAM', (i) => { i.temperature[1] = NaN; }],
    ['negative temperature', 'ERR_NATIVE_PARAM', (i) => { i.temperature[0] = -0.1; }],
    ['topP 0', 'ERR_NATIVE_PARAM', (i) => { i.topP[1] = 0; }],
    ['topP above 1', 'ERR_NATIVE_PARAM', (i) => { i.topP[1] = 1.5; }],
    ['minP above 1', 'ERR_NATIVE_PARAM', (i) => { i.minP[1] = 2; }],
    ['negative topK', 'ERR_NATIVE_PARAM', (i) => { i.topK[1] = -1; }],
    ['repetitionPenalty 0', 'ERR_NATIVE_PARAM', (i) => { i.repetitionPenalty[1] = 0; }],
    ['infinite presencePenalty', 'ERR_NATIVE_PARAM', (i) => { i.presencePenalty[1] = Infinity; }],
    ['fractional seed', 'ERR_NATIVE_PARAM', (i) => { i.seed[1] = 1.5; }],
    ['numTopLogprobs 21', 'ERR_NATIVE_PARAM', (i) => { i.numTopLogprobs[0] = 21; }],
  ];

  it.each(cases)('%s -> %s, and the executor keeps working', async (_, code, mutate) => {
    const input = goodInput();
    mutate(input);
    await expect(ex.step(input)).rejects.toMatchObject({ code: 'ERR_EXECUTOR', nativeCode: code });
    const out = await ex.step(goodInput());
    expect(out.tokens.length).toBe(2);
    expect(out.topK).toBe(3);
  });

  it('a second step while one is in flight -> ERR_NATIVE_BUSY', async () => {
    const first = ex.step(goodInput());
    await expect(ex.step(goodInput())).rejects.toMatchObject({ nativeCode: 'ERR_NATIVE_BUSY' });
    expect((await first).tokens.length).toBe(2);
  });

  it('parameters of a run that samples nothing are not checked', async () => {
    const input = goodInput();
    input.isSampled[0] = 0;
    input.topP[0] = 0;
    const out = await ex.step(input);
    expect(out.tokens.length).toBe(1);
  });

  it('close() then step -> ERR_NATIVE_CLOSED; close during a step is safe', async () => {
    const other = create();
    const inFlight = other.step(goodInput());
    other.close();
    expect((await inFlight).tokens.length).toBe(2);
    await expect(other.step(goodInput())).rejects.toMatchObject({ nativeCode: 'ERR_NATIVE_CLOSED' });
    expect(() => other.close()).not.toThrow();
  });
});
