/** The engine options every command takes, as commander options, and their parsed form. */
import { InvalidArgumentError, type Command } from 'commander';
import type { EngineOptions } from '../engine/options.js';
import type { KvDtype } from '../native/binding.js';
import type { SyncSteps } from '../engine/sync-steps.js';

export interface EngineFlags {
  model: string;
  kvCachePages?: number;
  pageSize?: number;
  maxBatchTokens?: number;
  maxRunning?: number;
  maxChunkSize?: number;
  maxWaiting?: number;
  prefixCache: boolean;
  threads?: number;
  kvDtype?: KvDtype;
  syncSteps?: SyncSteps;
}

export function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('must be an integer >= 1');
  return parsed;
}

export function nonNegativeInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError('must be an integer >= 0');
  return parsed;
}

export function finiteNumber(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new InvalidArgumentError('must be a number');
  return parsed;
}

const KV_DTYPES: readonly KvDtype[] = ['f32', 'f16', 'bf16', 'q8_0'];

export function kvDtype(value: string): KvDtype {
  if (!(KV_DTYPES as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${KV_DTYPES.join(', ')}`);
  return value as KvDtype;
}

const SYNC_STEPS: Record<string, SyncSteps> = { auto: 'auto', on: true, off: false };

export function syncSteps(value: string): SyncSteps {
  const parsed = SYNC_STEPS[value];
  if (parsed === undefined) throw new InvalidArgumentError('must be one of auto, on, off');
  return parsed;
}

export function addEngineOptions(command: Command, defaultModel = 'default'): Command {
  return command
    .option('--model <preset|path>', "'default' (the embedded model), 'tiny', 'small', 'medium', a model folder or a .gguf file", defaultModel)
    .option('--kv-cache-pages <n>', 'pages in the KV pool (default 256)', positiveInt)
    .option('--page-size <n>', 'tokens per KV page (default 16)', positiveInt)
    .option('--max-batch-tokens <n>', 'tokens per step (default 2048)', positiveInt)
    .option('--max-running <n>', 'requests in the running batch (default 64)', positiveInt)
    .option('--max-chunk-size <n>', 'longest prefill chunk (default 256)', positiveInt)
    .option('--max-waiting <n>', 'waiting requests before 429 / ERR_QUEUE_FULL (default 4096)', positiveInt)
    .option('--no-prefix-cache', 'turn the radix prefix cache off')
    .option('--threads <n>', 'native worker threads (default: the cores)', positiveInt)
    .option('--kv-dtype <type>', 'KV cache element type: f32 (default), f16, bf16 or q8_0 (int8, a scale per 32 values)', kvDtype)
    .option('--sync-steps <mode>', 'short steps on the JS thread: auto (default: steps of <= 4 tokens while they take <= 4 ms), on, off', syncSteps);
}

export function engineOptions(flags: EngineFlags): EngineOptions {
  const options: EngineOptions = { model: flags.model, prefixCache: flags.prefixCache };
  const numeric = ['kvCachePages', 'pageSize', 'maxBatchTokens', 'maxRunning', 'maxChunkSize', 'maxWaiting', 'threads'] as const;
  for (const key of numeric) if (flags[key] !== undefined) options[key] = flags[key];
  if (flags.kvDtype !== undefined) options.kvDtype = flags.kvDtype;
  if (flags.syncSteps !== undefined) options.syncSteps = flags.syncSteps;
  return options;
}
