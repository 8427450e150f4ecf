/** Starts a real server on 127.0.0.1, port 0, over the tiny model; and small HTTP helpers. */
import OpenAI from 'openai';
import { expect } from 'vitest';
import { NanoServingEngine, type EngineOptions } from '../../src/index.js';
import { createServer, type NanoServer, type ServerOptions } from '../../src/server/index.js';

export interface Served {
  engine: NanoServingEngine;
  server: NanoServer;
  client: OpenAI;
  url: string;
  close(): Promise<void>;
}

export async function serve(engineOptions: EngineOptions = {}, serverOptions: ServerOptions = {}): Promise<Served> {
  const engine = await NanoServingEngine.create({ model: 'tiny', threads: 1, ...engineOptions });
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
