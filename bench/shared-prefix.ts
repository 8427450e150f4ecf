/**
 * Prefix sharing inside one batch, end to end on the native executor: a shared-prefix
 * workload (G system prompts x R questions, shuffled, all at once) served with the
 * prefix cache and the hold-back of followers (the default), with the cache but no
 * hold-back, and with the cache off; hit rate against the page-aligned optimum.
 *   npm run build:ts && node dist/bench/shared-prefix.js [--model small] [--groups 4] [--per-group 16] [--runs 3]
 */
import { cpus } from 'node:os';
import { isPresetName } from '../src/models/presets.js';
import { runOurs, type OurMetrics } from './ours.js';
import { knobsFor, loadModel } from './suites.js';
import { optimalHitRate, sharedPrefixWorkload } from './workloads.js';
import { cpuDescription } from './machine.js';

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
}

const modelName = arg('model', 'small');
if (!isPresetName(modelName)) throw new RangeError(`--model: unknown preset '${modelName}'`);
const numGroups = Number(arg('groups', '4'));
const perGroup = Number(arg('per-group', '16'));
const numRuns = Number(arg('runs', '3'));
const prefixLen = 384;
const model = loadModel(modelName, Math.min(2, cpus().length), 'f32');
const requests = sharedPrefixWorkload({ numGroups, requestsPerGroup: perGroup, prefixLen, questionLen: 32, outputLen: 16, vocabSize: model.config.vocabSize, rate: Infinity, seed: 2000 });
const concurrency = requests.length;
const optimum = optimalHitRate(requests, prefixLen, 16);

const variants = {
  'cache + hold-back': knobsFor(requests, concurrency),
  'cache, no hold-back': knobsFor(requests, concurrency, { holdBack: false }),
  'cache off': knobsFor(requests, concurrency, { prefixCache: false }),
};
const runs = new Map<string, OurMetrics[]>(Object.keys(variants).map((k) => [k, []]));
// Interleave the variants, so a noisy neighbour hits all of them alike.
for (let r = 0; r < numRuns; r++) {
  for (const [name, knobs] of Object.entries(variants)) runs.get(name)!.push(await runOurs(model, knobs, requests, concurrency));
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const off = median(runs.get('cache off')!.map((m) => m.totalTokPerS));
console.log(`${modelName}: ${numGroups} groups x ${perGroup} requests, ${prefixLen}-token prefixes, all at once; ${cpuDescription()}; medians of ${numRuns}`);
console.table(
  [...runs].map(([name, ms]) => ({
    variant: name,
    'hit rate %': (median(ms.map((m) => m.engine.cacheHitRate)) * 100).toFixed(1),
    'optimum %': (optimum * 100).toFixed(1),
    'prefill tokens': median(ms.map((m) => m.engine.prefillTokens)),
    'total tok/s': Math.round(median(ms.map((m) => m.totalTokPerS))),
    'vs cache off': `${(median(ms.map((m) => m.totalTokPerS)) / off).toFixed(2)}x`,
  })),
);
