/**
 * Batched decode attention, build against build: the step profile's attention
 * (bench/step-profile.ts: a raw step of B decodes at context 96 minus the same step at context
 * 0, neither sampled; here the two alternate and the median of `reps` neighbouring differences
 * is taken) and the full step (every sequence sampled; median of `reps`), for
 * two or more builds of the project run in turn, one child process per build, KV type and
 * round, so the drift of a shared machine spreads over all of them. Prints every round, then
 * per build and KV type the median over the rounds and its ratio to the first build's.
 * A build is a directory with package.json, dist/ and build/Release (a worktree after
 * `npm run build:native && npm run build:ts`). NANO_SERVING_KERNEL=avx2 forces the AVX2
 * kernels in every child.
 *   node dist/bench/attention-ab.js --roots A,B [--preset medium] [--batch 32] [--kv f32,f16] [--rounds 5] [--reps 9]
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface Figures {
  root: string;
  kv: string;
  attentionMs: number;
  fullMs: number;
}

const CONTEXT = 96;
const PAGE = 16;

const arg = (name: string, fallback: string): string => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
};

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** One build's figures, measured in this process with that build's own modules. */
async function measure(root: string, preset: string, batch: number, kv: string, reps: number): Promise<Figures> {
  const load = (path: string) => import(pathToFileURL(join(root, 'dist', path)).href);
  const { NativeExecutor } = await load('src/executor/native.js');
  const { decodeInput } = await load('bench/step-profile.js');
  const { syntheticTensors } = await load('src/models/synthetic.js');
  const { presetConfig } = await load('src/models/presets.js');
  const config = presetConfig(preset);
  const pagesPerSeq = Math.ceil((CONTEXT + 1) / PAGE);
  const executor = NativeExecutor.create({
    config, tensors: syntheticTensors(config, 0), weightDtype: 'f32', numPages: batch * pagesPerSeq, pageSize: PAGE,
    numThreads: 2, maxBatchTokens: Math.max(batch, 16), maxSeqs: batch, kvDtype: kv,
  });
  const timed = async (input: unknown): Promise<number> => {
    const t0 = performance.now();
    await executor.step(input);
    return performance.now() - t0;
  };
  const full = decodeInput(batch, CONTEXT, pagesPerSeq, true);
  const atContext = decodeInput(batch, CONTEXT, pagesPerSeq, false), atZero = decodeInput(batch, 0, pagesPerSeq, false);
  try {
    for (let i = 0; i < 3; i++) await executor.step(full);
    const fullTimes: number[] = [];
    for (let i = 0; i < reps; i++) fullTimes.push(await timed(full));
    // The two unsampled steps alternate, so each difference pairs neighbours in time.
    for (let i = 0; i < 2; i++) await executor.step(atContext), await executor.step(atZero);
    const differences: number[] = [];
    for (let i = 0; i < reps; i++) differences.push((await timed(atContext)) - (await timed(atZero)));
    return { root, kv, attentionMs: median(differences), fullMs: median(fullTimes) };
  } finally {
    executor.close();
  }
}

function child(root: string, preset: string, batch: number, kv: string, reps: number): Figures {
  const args = [fileURLToPath(import.meta.url), '--child', root, '--preset', preset, '--batch', String(batch), '--kv', kv, '--reps', String(reps)];
  return JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8' }).trim()) as Figures;
}

async function main(): Promise<void> {
  const preset = arg('preset', 'medium'), batch = Number(arg('batch', '32')), reps = Number(arg('reps', '9'));
  if (process.argv.includes('--child')) {
    console.log(JSON.stringify(await measure(arg('child', ''), preset, batch, arg('kv', 'f32'), reps)));
    return;
  }
  const roots = arg('roots', '').split(',').filter((r) => r.length > 0);
  if (roots.length === 0) throw new RangeError('--roots needs at least one build directory');
  const kvs = arg('kv', 'f32').split(','), rounds = Number(arg('rounds', '5'));
  const all: Figures[] = [];
  for (let r = 0; r < rounds; r++)
    for (const kv of kvs)
      for (const root of roots) {
        const f = child(root, preset, batch, kv, reps);
        all.push(f);
        console.log(`round ${r + 1} ${kv} ${root}: attention ${f.attentionMs.toFixed(2)} ms, full step ${f.fullMs.toFixed(2)} ms`);
      }
  console.log(`\n${preset}, ${batch} decodes at context ${CONTEXT}, 2 threads, kernel ${process.env.NANO_SERVING_KERNEL ?? 'auto'}: medians of ${rounds} rounds`);
  console.log('| KV | build | attention ms | ratio | full step ms | ratio |\n|---|---|---:|---:|---:|---:|');
  for (const kv of kvs) {
    const of = (root: string) => all.filter((f) => f.kv === kv && f.root === root);
    const first = of(roots[0]);
    for (const root of roots) {
      const a = median(of(root).map((f) => f.attentionMs)), s = median(of(root).map((f) => f.fullMs));
      const ratio = (x: number, base: number) => (x / base).toFixed(2);
      console.log(`| ${kv} | ${root} | ${a.toFixed(2)} | ${ratio(a, median(first.map((f) => f.attentionMs)))} | ${s.toFixed(2)} | ${ratio(s, median(first.map((f) => f.fullMs)))} |`);
    }
  }
}

await main();
