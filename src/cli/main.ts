#!/usr/bin/env node
/** Entry point of the `nano-serving` command: parse, run, and report typed errors without a stack. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NanoServingError } from '../errors.js';
import { packageRoot } from './bench.js';
import { processIo } from './output.js';
import { buildProgram } from './program.js';

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

try {
  await buildProgram(processIo, packageVersion()).parseAsync(process.argv);
} catch (error) {
  const message = error instanceof NanoServingError ? `${error.message} (${error.code})` : error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`nano-serving: ${message}\n`);
  process.exitCode = 1;
}
