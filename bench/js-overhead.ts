/**
 * The JS layer's cost per generated token: the whole engine (actors, scheduler, streams,
 * page accounting) on an executor that does no model work, minus the executor's own time.
 * Also reported from the process's CPU time (user + system), which a busy neighbour on a
 * shared machine inflates less than wall time. Prompts of 32 tokens, greedy, EOS ignored.
 * Then the binding's share (bench/step-call.ts): the synchronous step() call on the native
 * executor with whole tables and histories against kept sequences (--no-native skips it).
 * Each measure is a fresh engine; one full-size run of each kind warms the JIT first (the
 * first runs of a process cost 1.5-3x the steady state), then the kinds alternate round by round.
 * --evict-mib N: each step of the executor also reads N MiB (caches cold for the engine, as after a real forward pass).
 *   npm run build:ts && node dist/bench/js-overhead.js [--requests 256] [--tokens 128] [--rounds 5] [--evict-mib 0] [--no-native]
 */
import { loadavg } from 'node:os';
import { EngineCore } from '../src/engine/core.js';
import { ByteTokenizer } from '../src/engine/tokenizer.js';
import type { Executor, StepInput, StepOutput } from '../src/executor/step.js';
import { cpuDescription } from './machine.js';
import { stepCallRows } from './step-call.js';

/**
 * Returns one fixed token per sampled sequence: the cheapest executor that honours the contract.
 * With `evictBytes`, each step also reads that much memory, as a forward pass streams weights and
 * K/V through the caches, so the engine's next step finds its own data evicted (its time is the
 * executor's, not counted as JS).
 */
class NullExecutor implements Executor {
  readonly info = { vocabSize: 256, contextLength: 4096, numPages: 8192, pageSize: 16, maxBatchTokens: 65536, maxSeqs: 1024 };
  timeMs = 0;
  /** CPU microseconds of the process spent inside step() (process.cpuUsage: the JS thread's, with GC helpers). */
  cpuUs = 0;
  private readonly evicting: Float64Array;
  sink = 0;
  constructor(evictBytes: number) {
    this.evicting = new Float64Array(evictBytes / 8);
  }
  async step(input: StepInput): Promise<StepOutput> {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let numSampled = 0;
    for (let s = 0; s < input.isSampled.length; s++) numSampled += input.isSampled[s];
    const out = { tokens: new Int32Array(numSampled).fill(65), logprobs: new Float32Array(numSampled), topK: 0, topIds: new Int32Array(0), topLogprobs: new Float32Array(0) };
    for (let i = 0; i < this.evicting.length; i += 8) this.sink += this.evicting[i]; // one read per 64-byte line
    const cpu = process.cpuUsage(cpu0);
    this.cpuUs += cpu.user + cpu.system;
    this.timeMs += performance.now() - t0;
    return out;
  }
  close(): void {}
}

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

async function measure(numRequests: number, numTokens: number, subscribe: boolean): Promise<{ usPerToken: number; cpuUsPerToken: number; tokensPerSec: number }> {
  const executor = new NullExecutor(evictMiB * 2 ** 20);
  const core = new EngineCore(executor, new ByteTokenizer(256), { maxBatchTokens: 8192, maxRunning: 1024, maxChunkSize: 256, chunkedPrefill: true, prefixCache: true, maxWaiting: Infinity });
  const started = performance.now();
  const cpu = process.cpuUsage();
  const prompt = (i: number): number[] => Array.from({ length: 32 }, (_, j) => (i * 7 + j * 13) % 256);
  const handles = Array.from({ length: numRequests }, (_, i) => core.submit(prompt(i), { maxTokens: numTokens, ignoreEos: true }));
  if (subscribe) for (const h of handles) h.tokens$.subscribe();
  await Promise.all(handles.map((h) => h.done));
  const wallMs = performance.now() - started;
  const cpuUs = process.cpuUsage(cpu);
  const generated = core.stats().generatedTokens;
  await core.close();
  return {
    usPerToken: ((wallMs - executor.timeMs) * 1000) / generated,
    cpuUsPerToken: (cpuUs.user + cpuUs.system - executor.cpuUs) / generated,
    tokensPerSec: (generated * 1000) / wallMs,
  };
}

type Measure = Awaited<ReturnType<typeof measure>>;

const numRequests = arg('requests', 256);
const numTokens = arg('tokens', 128);
const numRounds = arg('rounds', 5);
const evictMiB = arg('evict-mib', 0);
const kinds = [false, true];
for (const subscribe of kinds) await measure(numRequests, numTokens, subscribe); // warm up the JIT
const runsOf = new Map<boolean, Measure[]>(kinds.map((k) => [k, []]));
for (let round = 0; round < numRounds; round++) for (const subscribe of kinds) runsOf.get(subscribe)!.push(await measure(numRequests, numTokens, subscribe));
const rows = [];
for (const subscribe of kinds) {
  const runs = runsOf.get(subscribe)!;
  const median = (key: keyof Measure): number => runs.map((r) => r[key]).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
  rows.push({
    requests: numRequests,
    tokensEach: numTokens,
    subscribers: subscribe ? 1 : 0,
    [`JS µs/token, wall (median of ${numRounds})`]: median('usPerToken').toFixed(2),
    [`JS µs/token, CPU (median of ${numRounds})`]: median('cpuUsPerToken').toFixed(2),
    'tokens/s': Math.round(median('tokensPerSec')),
  });
}
console.log(`${cpuDescription()}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}${evictMiB > 0 ? `; the executor reads ${evictMiB} MiB a step` : ''}`);
console.table(rows);
if (!process.argv.includes('--no-native')) console.table(await stepCallRows([64, 512, 2048], 40));
