/** The engine options every command takes, as commander options, and their parsed form. */
import { InvalidArgumentError, type Command } from 'commander';
import type { EngineOptions } from '../engine/options.js';

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
    .option('--threads <n>', 'native worker threads (default: the cores)', positiveInt);
}

export function engineOptions(flags: EngineFlags): EngineOptions {
  const options: EngineOptions = { model: flags.model, prefixCache: flags.prefixCache };
  const numeric = ['kvCachePages', 'pageSize', 'maxBatchTokens', 'maxRunning', 'maxChunkSize', 'maxWaiting', 'threads'] as const;
  for (const key of numeric) if (flags[key] !== undefined) options[key] = flags[key];
  return options;
}
