/**
 * Loads XGrammar's WebAssembly build (@mlc-ai/web-xgrammar) once per process.
 *
 * The package ships a UMD bundle inside a `"type": "module"` package, so Node's ESM loader
 * sees no exports and `require` refuses it; we compile the bundle as the CommonJS module it
 * is. XGrammar reports a bad grammar or schema by printing `[FATAL] ...` through the WASM
 * runtime's stderr hook and aborting the call with a bare `RuntimeError: Aborted()`; the hook
 * is bound when the runtime starts, so we start it with a forwarder in place and keep the
 * last message, which becomes the text of our typed error instead of noise on stderr.
 */
import { createRequire, Module } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type * as XGrammar from '@mlc-ai/web-xgrammar';

export type XGrammarModule = typeof XGrammar;

let loading: Promise<XGrammarModule> | undefined;
let lastFatal = '';
let isCapturing = false;

/** The module, its runtime started (the first call takes ~50 ms). */
export function loadXGrammar(): Promise<XGrammarModule> {
  loading ??= start();
  return loading;
}

async function start(): Promise<XGrammarModule> {
  const require = createRequire(import.meta.url);
  const file = require.resolve('@mlc-ai/web-xgrammar/lib/index.js');
  type CompilableModule = Module & { _compile(code: string, filename: string): void; paths: string[] };
  const ModuleCtor = Module as unknown as new (id: string, parent?: unknown) => CompilableModule;
  const bundle = new ModuleCtor(file);
  bundle.filename = file;
  bundle.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(path.dirname(file));
  bundle._compile(readFileSync(file, 'utf8'), file);
  const xg = bundle.exports as XGrammarModule;
  const consoleError = console.error;
  console.error = (...args: unknown[]) => onRuntimeError(consoleError, args);
  try {
    await xg.Grammar.fromEBNF('root ::= "a"'); // starts the runtime, which binds its stderr hook now
  } finally {
    console.error = consoleError;
  }
  return xg;
}

function onRuntimeError(fallback: (...args: unknown[]) => void, args: unknown[]): void {
  const text = args.map(String).join(' ');
  if (!isCapturing) return fallback(...args);
  if (text.includes('[FATAL]')) lastFatal = text.replace(/^.*\[FATAL\]\s*\S+:\d+:\s*/s, '').trim();
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Runs an XGrammar call that may fail (compiling a grammar), one at a time, turning its abort
 * into an Error that carries XGrammar's own message.
 */
export function callXGrammar<T>(call: () => Promise<T>): Promise<T> {
  const run = queue.then(async () => {
    lastFatal = '';
    isCapturing = true;
    try {
      return await call();
    } catch (error) {
      const message = lastFatal || (error instanceof Error ? error.message : String(error));
      throw new Error(message, { cause: error });
    } finally {
      isCapturing = false;
    }
  });
  queue = run.catch(() => undefined);
  return run;
}
