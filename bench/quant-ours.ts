/**
 * Child process of bench/quant.ts: our executor on one GGUF file, 2 threads (argv: file,
 * threads, KV element type f32 | f16 | bf16). Prints one JSON line: prefill of 512 tokens (one step), single-stream decode
 * (64 steps of one token), 32 concurrent sequences decoding at positions 32.. (steps of 32
 * tokens; what llama-batched-bench -npp 32 -npl 32 times), tok/s each,
 * the resident memory after load (weights + KV pool + Node; the file is a mapping whose pages
 * the executor dropped as it copied them), the weight bytes and the kernel.
 */
import { NativeExecutor } from '../src/executor/native.js';
import type { KvDtype } from '../src/native/binding.js';
import type { StepInput } from '../src/executor/step.js';
import { loadGgufModel } from '../src/models/gguf-loader.js';

const PAGE = 16;
const GREEDY = { temperature: 0, topK: 0, topP: 1, minP: 0, seed: 0 };

interface Run { seq: number; tokens: number[]; startPos: number }

/** Pages of each sequence: 4 each for the 32 concurrent ones (positions < 64), 32 for the prompt (seq 32), 4 for the single stream (seq 33). */
const pageBase = (seq: number): number => (seq < 32 ? 4 * seq : seq === 32 ? 128 : 160);
const NUM_PAGES = 164;

function step(runs: Run[]): StepInput {
  const n = runs.length;
  const offsets = (lens: number[]): Int32Array => Int32Array.from([0, ...lens.map((_, i) => lens.slice(0, i + 1).reduce((a, b) => a + b, 0))]);
  const pages = runs.map((r) => Array.from({ length: Math.ceil((r.startPos + r.tokens.length) / PAGE) }, (_, i) => pageBase(r.seq) + i));
  return {
    tokens: Int32Array.from(runs.flatMap((r) => r.tokens)),
    positions: Int32Array.from(runs.flatMap((r) => r.tokens.map((_, i) => r.startPos + i))),
    seqStart: offsets(runs.map((r) => r.tokens.length)),
    pageTable: Int32Array.from(pages.flat()),
    pageStart: offsets(pages.map((p) => p.length)),
    isSampled: new Uint8Array(n).fill(1),
    temperature: new Float32Array(n).fill(GREEDY.temperature), topK: new Int32Array(n), topP: new Float32Array(n).fill(1),
    minP: new Float32Array(n), seed: new Float64Array(n), presencePenalty: new Float32Array(n), frequencyPenalty: new Float32Array(n),
    repetitionPenalty: new Float32Array(n).fill(1), historyTokens: new Int32Array(0), historyStart: new Int32Array(n + 1),
    historyPromptLen: new Int32Array(n), numTopLogprobs: new Int32Array(n), returnLogits: false,
  };
}

async function main(): Promise<void> {
  const [file, threadsArg, kvArg] = process.argv.slice(2);
  const numThreads = Number(threadsArg ?? 2), kvDtype = (kvArg ?? 'f32') as KvDtype;
  let model: Awaited<ReturnType<typeof loadGgufModel>> | undefined = await loadGgufModel(file);
  const vocab = model.config.vocabSize;
  const ex = NativeExecutor.create({ config: model.config, tensors: model.tensors, numPages: NUM_PAGES, pageSize: PAGE, numThreads, maxBatchTokens: 512, maxSeqs: 32, kvDtype });
  model = undefined; // the file's mapping can go now (unmapped when collected)
  for (let i = 0; i < 5; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const residentMiB = process.memoryUsage().rss / 1048576; // weights + KV pool + Node, after load
  const time = async (f: () => Promise<void>): Promise<number> => { const t0 = performance.now(); await f(); return (performance.now() - t0) / 1000; };
  const prompt = Array.from({ length: 512 }, (_, i) => 3 + ((i * 7919) % (vocab - 3)));
  await ex.step(step([{ seq: 33, tokens: prompt.slice(0, 16), startPos: 0 }])); // warm-up
  const pp = 512 / await time(async () => { await ex.step(step([{ seq: 32, tokens: prompt, startPos: 0 }])); });
  let token = 5;
  const tg = 64 / await time(async () => {
    for (let i = 0; i < 64; i++) token = (await ex.step(step([{ seq: 33, tokens: [token], startPos: i }]))).tokens[0];
  });
  const numSteps = 24;
  const par = (32 * numSteps) / await time(async () => {
    for (let i = 0; i < numSteps; i++) await ex.step(step(Array.from({ length: 32 }, (_, s) => ({ seq: s, tokens: [7 + s], startPos: 32 + i }))));
  });
  const info = ex.nativeInfo();
  ex.close();
  console.log(JSON.stringify({ pp512: pp, tg: tg, par32: par, residentMiB, weightBytes: info.weightBytes, kvBytes: info.kvBytes, kernel: `${info.kernel}+${info.quantKernel ?? '-'}`, kvDtype }));
}

void main();
