/** The command line: `nano-serving demo | serve | generate | bench`, each with --help. */
import { Command } from 'commander';
import { runBench } from './bench.js';
import { runExport } from '../models/export.js';
import { runDemo, type DemoFlags } from './demo.js';
import { addEngineOptions, finiteNumber, nonNegativeInt, positiveInt } from './engine-options.js';
import { runGenerate, type GenerateFlags } from './generate.js';
import { processIo, type Io } from './output.js';
import { closeOnSignals, runServe, type ServeFlags } from './serve.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `throwOnExit` makes commander throw instead of exiting (tests). */
export function buildProgram(io: Io = processIo, version = '0.0.0', throwOnExit = false): Command {
  const program = new Command('nano-serving')
    .description('An LLM serving runtime for Node.js: paged KV cache, continuous batching, prefix cache, OpenAI-compatible server.')
    .version(version)
    .enablePositionalOptions()
    .showHelpAfterError()
    .configureOutput({ writeOut: (text) => io.out.write(text), writeErr: (text) => io.err.write(text) });
  if (throwOnExit) program.exitOverride();

  addEngineOptions(program.command('demo').description("run the README's usage example on the embedded default model and print the stats"))
    .option('--max-tokens <n>', 'tokens per answer', positiveInt, 32)
    .option('--json', 'print one JSON report instead of text')
    .action(async (flags: DemoFlags) => {
      await runDemo(flags, io);
    });

  addEngineOptions(program.command('serve').description('start the OpenAI-compatible HTTP server (/v1/completions, /v1/chat/completions, /v1/models, /health, /metrics)'))
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--port <port>', 'port (0 = any free port)', nonNegativeInt, 8000)
    .option('--served-model-name <name>', 'the model name clients see (default: the engine model name)')
    .option('--body-limit <bytes>', 'largest request body (default 1 MiB)', positiveInt)
    .option('--log', 'log every request (Fastify logger)')
    .option('--shutdown-grace <seconds>', 'on SIGTERM/SIGINT, let running requests finish this long (new ones get 503)', nonNegativeInt, 30)
    .action(async (flags: ServeFlags) => {
      closeOnSignals(await runServe(flags, io), io);
    });

  addEngineOptions(program.command('generate').description('generate from one prompt, streaming the text'))
    .requiredOption('--prompt <text>', 'the prompt')
    .option('--max-tokens <n>', 'tokens to generate at most (default 256, capped by the context)', positiveInt)
    .option('--temperature <t>', '0 = greedy (default)', finiteNumber)
    .option('--top-p <p>', 'nucleus sampling', finiteNumber)
    .option('--top-k <k>', 'top-k sampling (0 = off)', nonNegativeInt)
    .option('--seed <s>', 'sampling seed', nonNegativeInt)
    .option('--stop <text>', 'stop string (repeatable)', collect)
    .option('--json', 'print one JSON object instead of streaming text')
    .action(async (flags: GenerateFlags) => {
      await runGenerate(flags, io);
    });

  program
    .command('bench')
    .description('run the benchmarks (dist/bench/run.js) with the given arguments; `bench -- --help` for theirs')
    .argument('[args...]', 'arguments passed to the benchmark runner')
    .passThroughOptions()
    .allowUnknownOption()
    .action(async (args: string[]) => {
      process.exitCode = await runBench(args, io);
    });

  program
    .command('export')
    .description('write a synthetic model as a Hugging Face folder or a GGUF file: export --preset small --format safetensors|gguf --out DIR [--seed N] [--dtype f32|bf16|f16|q8_0|q4_0|q4_k|q5_k|q6_k|q4_k_m|q5_k_m]')
    .argument('[args...]', '--preset NAME | --config FILE, --format safetensors|gguf, --out DIR, [--seed N], [--dtype ...]')
    .passThroughOptions()
    .allowUnknownOption()
    .action((args: string[]) => {
      const result = runExport(args);
      io.out.write(`${JSON.stringify(result)}\n`);
    });

  return program;
}
