/**
 * Starts a real server on 127.0.0.1, port 0, over the tiny model (serve) or over the
 * simulated executor with the byte tokenizer, no addon (serveSimulated); and small HTTP helpers.
 */
import OpenAI from 'openai';
import { expect } from 'vitest';
import { NanoServingEngine, SimulatedExecutor, type EngineOptions } from '../../src/index.js';
import type { SimulatedExecutorOptions } from '../../src/executor/simulated.js';
import { createServer, type NanoServer, type ServerOptions } from '../../src/server/index.js';

export interface Served {
  engine: NanoServingEngine;
  server: NanoServer;
  client: OpenAI;
  url: string;
  close(): Promise<void>;
}

export async function serve(engineOptions: EngineOptions = {}, serverOptions: ServerOptions = {}): Promise<Served> {
  return serveEngine(await NanoServingEngine.create({ model: 'tiny', threads: 1, ...engineOptions }), serverOptions);
}

/** What the simulated executor takes besides the engine's options (its vocabulary and context match the tiny preset). */
export type SimulatedServing = EngineOptions & Partial<Pick<SimulatedExecutorOptions, 'delayMs' | 'failStep' | 'numPages' | 'contextLength'>>;

/** The same server over the simulated executor (vocabulary 256, context 512, served as 'tiny'): no addon, no model. */
export async function serveSimulated(options: SimulatedServing = {}, serverOptions: ServerOptions = {}): Promise<Served> {
  const { delayMs, failStep, numPages, contextLength, ...engineOptions } = options;
  const executor = new SimulatedExecutor({ vocabSize: 256, contextLength: contextLength ?? 512, numPages: numPages ?? 256, pageSize: 16, delayMs, failStep });
  const engine = await NanoServingEngine.create({ executor, ...engineOptions });
  return serveEngine(engine, { modelName: 'tiny', ...serverOptions });
}

async function serveEngine(engine: NanoServingEngine, serverOptions: ServerOptions): Promise<Served> {
  const server = await createServer(engine, { host: '127.0.0.1', port: 0, ...serverOptions });
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'x', maxRetries: 0 });
  return {
    engine,
    server,
    client,
    url: server.url,
    async close() {
      await server.close();
      await engine.close();
    },
  };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text.length > 0 ? JSON.parse(text) : undefined, headers: response.headers };
}

/** The engine is idle and every page is free or held only by the prefix cache (nothing leaked). */
export async function expectNoLeak(engine: NanoServingEngine): Promise<void> {
  await engine.whenIdle();
  const stats = engine.stats();
  expect(stats.running).toBe(0);
  expect(stats.waiting).toBe(0);
  expect(stats.pages.free + stats.pages.evictable).toBe(stats.pages.total);
  engine.checkIntegrity();
}

/** Parses an SSE body into its JSON events (and whether it ended with [DONE]). */
export function parseSse(text: string): { events: any[]; isDone: boolean } {
  const events: any[] = [];
  let isDone = false;
  for (const block of text.split('\n\n')) {
    if (!block.startsWith('data: ')) continue;
    const data = block.slice('data: '.length);
    if (data === '[DONE]') isDone = true;
    else events.push(JSON.parse(data));
  }
  return { events, isDone };
}
