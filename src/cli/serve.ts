/** `nano-serving serve`: the OpenAI-compatible server over one engine, until SIGINT/SIGTERM. */
import { NanoServingEngine } from '../engine/engine.js';
import { createServer, type NanoServer } from '../server/server.js';
import { engineOptions, type EngineFlags } from './engine-options.js';
import type { Io } from './output.js';
import { progressLine } from './progress.js';

export interface ServeFlags extends EngineFlags {
  host: string;
  port: number;
  servedModelName?: string;
  bodyLimit?: number;
  log?: boolean;
  /** Seconds running requests may take to finish when the server shuts down. */
  shutdownGrace?: number;
}

export interface RunningServer {
  readonly server: NanoServer;
  readonly engine: NanoServingEngine;
  /** Stops the server (running requests get --shutdown-grace seconds to finish, new ones a 503) and closes the engine. */
  close(): Promise<void>;
}

export async function runServe(flags: ServeFlags, io: Io): Promise<RunningServer> {
  const engine = await NanoServingEngine.create(engineOptions(flags));
  let server: NanoServer;
  try {
    server = await createServer(engine, { host: flags.host, port: flags.port, modelName: flags.servedModelName, bodyLimit: flags.bodyLimit, logger: flags.log ?? false });
  } catch (error) {
    await engine.close();
    throw error;
  }
  const modelName = flags.servedModelName ?? engine.modelName;
  io.err.write(`nano-serving: serving "${modelName}" at ${server.url}/v1 (OpenAI-compatible; also /health, /metrics)\n`);
  const progress = progressLine(io.err, () => engine.stats());
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      progress.stop();
      await server.close({ graceMs: (flags.shutdownGrace ?? 30) * 1000 });
      await engine.close();
    })();
    return closing;
  };
  return { server, engine, close };
}

/** Closes on the first SIGINT/SIGTERM; a second one exits at once. */
export function closeOnSignals(running: RunningServer, io: Io): void {
  let isClosing = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (isClosing) process.exit(130);
    isClosing = true;
    io.err.write(`\nnano-serving: ${signal}, shutting down\n`);
    void running.close().then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
