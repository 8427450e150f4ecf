/**
 * The same raw step (8 decodes at one position) back to back for a few seconds: where the slow
 * steps fall (ms, whether the pool's other thread took part, the process's involuntary context
 * switches in the step) and how the steps after a stall recover.
 *   node dist/bench/step-stalls.js [--steps 2000] [--pos 300] [--kv q8_0] [--sync]
 *                                  [--pause-every N [--pause-ms 50] [--trash]]
 */
import { NativeExecutor } from '../src/executor/native.js';
import { benchArgs, KV_DTYPES } from './args.js';
import { percentiles } from './metrics.js';
import { rawStep } from './raw-steps.js';
import { loadModel } from './suites.js';

const args = benchArgs({ steps: 'value', pos: 'value', kv: 'value', sync: 'flag', 'pause-every': 'value', 'pause-ms': 'value', trash: 'flag' });
const numSteps = args.int('steps', 2000), pos = args.int('pos', 300, 0), kvDtype = args.choice('kv', KV_DTYPES, 'q8_0'), isSync = args.flag('sync');
const model = loadModel('small', 2, 'f32', { contextLength: 4608 });
const pagesPer = Math.ceil((pos + 1) / 16);
const ex = NativeExecutor.create({ config: model.config, tensors: model.tensors, numPages: 8 * pagesPer + 8, pageSize: 16, numThreads: 2, maxBatchTokens: 8192, maxSeqs: 10, kvDtype });
const input = rawStep(Array.from({ length: 8 }, (_, s) => ({ start: pos, length: 1, pages: Array.from({ length: pagesPer }, (_, p) => s * pagesPer + p) })));
// --pause-every N --pause-ms M: an idle pause (or, with --trash, M ms of writing a 256 MB buffer) after every Nth step, and the steps after it.
const pauseEvery = args.int('pause-every', 0, 0), pauseMs = args.int('pause-ms', 50), isTrash = args.flag('trash');
const trash = isTrash ? new Float64Array(32 << 20) : undefined;
const pause = async (): Promise<void> => {
  if (!trash) return new Promise((resolve) => setTimeout(resolve, pauseMs));
  const end = performance.now() + pauseMs;
  for (let k = 0; performance.now() < end; k++) for (let j = (k * 4096) % trash.length, e = Math.min(trash.length, j + 65536); j < e; j += 8) trash[j] += 1;
};
const after: number[][] = [];
const rows: Array<{ ms: number; step: number; wait: number; ivcs: number; t: number }> = [];
ex.stepProfile(true);
const t00 = performance.now();
for (let i = 0; i < numSteps; i++) {
  const r0 = process.resourceUsage().involuntaryContextSwitches, t0 = performance.now();
  if (isSync) ex.stepSync(input);
  else await ex.step(input);
  const ms = performance.now() - t0, q = ex.stepProfile(true);
  if (pauseEvery > 0 && i % pauseEvery === pauseEvery - 1) await pause();
  if (pauseEvery > 0 && i % pauseEvery < 6 && i >= pauseEvery) (after[i % pauseEvery] ??= []).push(ms);
  rows.push({ ms, step: q.stepMs, wait: q.poolWaitMs, ivcs: process.resourceUsage().involuntaryContextSwitches - r0, t: t0 - t00 });
}
ex.close();
if (pauseEvery > 0) console.log(`after each pause (${isTrash ? 'trashing' : 'idle'} ${pauseMs} ms), step k p50: ` + after.map((v, k) => `${k}: ${percentiles(v).p50.toFixed(2)}`).join(', '));
const p = percentiles(rows.map((r) => r.ms)), s = rows.map((r) => r.ms).sort((a, b) => a - b);
console.log(`${isSync ? 'sync' : 'async'} 8 decodes @${pos} ${kvDtype}: n ${rows.length} p50 ${p.p50.toFixed(2)} p90 ${s[Math.floor(0.9 * s.length)].toFixed(2)} p99 ${p.p99.toFixed(2)} p99.9 ${s[Math.floor(0.999 * s.length)].toFixed(2)} max ${s[s.length - 1].toFixed(2)}`);
const big = rows.map((r, i) => (r.ms > 10 ? i : -1)).filter((i) => i >= 0);
console.log(`stalls > 10 ms: ${big.length}, at s ${big.map((i) => (rows[i].t / 1000).toFixed(2)).join(' ')}`);
for (const i of big.slice(0, 4)) console.log(rows.slice(Math.max(0, i - 2), i + 8).map((r) => `${r.ms.toFixed(2)}(st ${r.step.toFixed(2)} w ${r.wait.toFixed(2)} cs ${r.ivcs})`).join(' '));
const withCs = rows.filter((r) => r.ivcs > 0 && r.ms <= 10), noCs = rows.filter((r) => r.ivcs === 0);
console.log(`steps with an involuntary switch (not stalls): ${withCs.length}, p50 ${percentiles(withCs.map((r) => r.ms)).p50.toFixed(2)}; without: ${noCs.length}, p50 ${percentiles(noCs.map((r) => r.ms)).p50.toFixed(2)} p99 ${percentiles(noCs.map((r) => r.ms)).p99.toFixed(2)}`);
const alone = rows.filter((r) => r.wait < 0.005 && r.ms <= 10 && r.ms > 1.4 * p.p50);
console.log(`slow steps (1.4x p50..10 ms): ${rows.filter((r) => r.ms <= 10 && r.ms > 1.4 * p.p50).length}, of which no pool wait: ${alone.length}`);
