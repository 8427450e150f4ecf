/**
 * Long-context attention bench: raw executor steps on the small preset with a 4,608-token
 * context (the interference shape). A 16-token prefill chunk at the start, middle and end
 * of a 4,000-token prompt, a 256-token chunk at its end, and 8 decode streams at 4,000
 * tokens of context, per KV element type. The tiled attention should make a chunk's cost
 * grow far less than the context (each K/V page read once per 16 queries, not per query).
 * With --grid: what a step of 8 short decode streams plus one prefill chunk costs, per
 * chunk size and context (the step-cost model of src/scheduler/step-cost.ts is fitted to it).
 *   npm run bench:long [-- --threads N] [-- --kernel auto|avx2|avx512|portable] [-- --kv f32,bf16,f16,q8_0] [-- --grid]
 */
import { availableParallelism } from 'node:os';
import { NativeExecutor, type NativeExecutorCreateOptions } from '../src/executor/native.js';
import { presetConfig } from '../src/models/presets.js';
import { syntheticTensors } from '../src/models/synthetic.js';
import { cpuLine } from './machine.js';
import { rawStep, timeStepMs, type RawRun } from './raw-steps.js';

const PAGE = 16;
const CONTEXT = 4608;
const PROMPT = 4000;
const STREAMS = 8;

type Seq = RawRun;
const step = rawStep;
const timeMs = timeStepMs;

const arg = (name: string): string | undefined => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
};

/** Step ms of 8 decode streams at a short context plus a chunk at each context; the first row is the decodes alone. */
async function grid(ex: NativeExecutor, pages: (seq: number) => number[]): Promise<void> {
  const decodes = Array.from({ length: STREAMS }, (_, s) => ({ start: 100, length: 1, pages: pages(s + 1) }));
  const alone = await timeMs(ex, step(decodes), 10);
  const contexts = [0, 1000, 2000, 3000, 3984];
  console.log(`decode x${STREAMS} @100 alone: ${alone.toFixed(2)} ms; step ms with a chunk (not sampled) at each context:`);
  console.log(`| chunk | ${contexts.map((c) => `@${c}`).join(' | ')} |`);
  console.log(`|---|${contexts.map(() => '---|').join('')}`);
  for (const chunk of [1, 4, 16, 17, 32, 64]) {
    const row: string[] = [];
    for (const at of contexts) {
      const input = step([...decodes, { start: at, length: chunk, pages: pages(0), isSampled: false }]);
      row.push((await timeMs(ex, input, chunk >= 64 ? 3 : 6)).toFixed(2));
    }
    console.log(`| ${chunk} | ${row.join(' | ')} |`);
  }
}

async function main(): Promise<void> {
  const threads = Number(arg('threads') ?? Math.min(2, availableParallelism()));
  const kernel = (arg('kernel') ?? 'auto') as NativeExecutorCreateOptions['kernel'];
  const kvTypes = (arg('kv') ?? 'f32,bf16,f16,q8_0').split(',') as Array<NonNullable<NativeExecutorCreateOptions['kvDtype']>>;
  const config = { ...presetConfig('small'), contextLength: CONTEXT };
  const pagesPerSeq = CONTEXT / PAGE;
  const tensors = syntheticTensors(config, 1);
  console.log(`${cpuLine()}; ${threads} threads; small preset, ${CONTEXT}-token context, page ${PAGE}`);
  console.log('| kernel | KV | chunk 16 @0 ms | @2000 | @3984 | end/start | chunk 256 @3744 ms | decode x8 @4000 ms |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const kvDtype of kvTypes) {
    const options: NativeExecutorCreateOptions = {
      config, tensors, numPages: (STREAMS + 1) * pagesPerSeq, pageSize: PAGE, numThreads: threads,
      maxBatchTokens: 256, maxSeqs: STREAMS + 1, kernel, ...(kvDtype === 'f32' ? {} : { kvDtype }),
    };
    const ex = NativeExecutor.create(options);
    const pages = (seq: number): number[] => Array.from({ length: pagesPerSeq }, (_, i) => seq * pagesPerSeq + i);
    if (process.argv.includes('--grid')) {
      await grid(ex, pages);
      ex.close();
      continue;
    }
    const chunk = (start: number, length: number): Promise<number> => timeMs(ex, step([{ start, length, pages: pages(0) }]), 5);
    const c0 = await chunk(0, 16), cMid = await chunk(2000, 16), cEnd = await chunk(PROMPT - 16, 16);
    const c256 = await chunk(PROMPT - 256, 256);
    const decode = await timeMs(ex, step(Array.from({ length: STREAMS }, (_, s) => ({ start: PROMPT, length: 1, pages: pages(s + 1) }))), 5);
    console.log(`| ${ex.nativeInfo().kernel} | ${kvDtype} | ${c0.toFixed(2)} | ${cMid.toFixed(2)} | ${cEnd.toFixed(2)} | ${(cEnd / c0).toFixed(1)}x | ${c256.toFixed(1)} | ${decode.toFixed(2)} |`);
    ex.close();
  }
}

await main();
