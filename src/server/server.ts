/**
 * createServer(engine, options): the OpenAI-compatible HTTP server (Fastify) over an engine.
 * It listens on 127.0.0.1 by default; port 0 picks a free port (tests). Closing the
 * server aborts its requests in flight and stops listening; the engine stays the caller's.
 */
import { fastify, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { NanoServingEngine } from '../engine/engine.js';
import type { RequestHandle } from '../engine/handle.js';
import { ChatTemplate } from './chat-template.js';
import { PendingResponses } from './client-errors.js';
import { mapError, notFound, shuttingDown } from './http-errors.js';
import { parseJsonBody } from './json-body.js';
import { TokenTexts } from './logprobs.js';
import { ServerMetrics } from './metrics.js';
import { registerRoutes } from './routes.js';

export interface ServerOptions {
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 8000; 0 = any free port). */
  port?: number;
  /** Largest request body in bytes (default 1 MiB); larger bodies get 413. */
  bodyLimit?: number;
  /** The model name clients see and send (default engine.modelName). */
  modelName?: string;
  /** Fastify's logger: off by default; true or pino options to turn it on. */
  logger?: FastifyServerOptions['logger'];
}

export interface NanoServer {
  readonly app: FastifyInstance;
  /** e.g. http://127.0.0.1:8000 */
  readonly url: string;
  readonly port: number;
  readonly metrics: ServerMetrics;
  /**
   * Stops taking requests (new ones get an OpenAI-shaped 503 with Retry-After, /health
   * reads "draining"), lets the running ones finish for up to `graceMs` (default 0), then
   * ends the rest (a stream gets an error event, a waiting request a 503) and stops
   * listening. Does not close the engine.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

export interface ServerLifecycle {
  /** Set by close(): new requests are refused, running ones drain. */
  isDraining: boolean;
}

export const SERVER_DEFAULTS = { host: '127.0.0.1', port: 8000, bodyLimit: 1024 * 1024 };

/** Builds the Fastify app without listening (for inject()). */
export function buildApp(engine: NanoServingEngine, options: ServerOptions = {}): { app: FastifyInstance; metrics: ServerMetrics; active: Set<RequestHandle>; lifecycle: ServerLifecycle } {
  const pending = new PendingResponses();
  const lifecycle: ServerLifecycle = { isDraining: false };
  const app = fastify({
    logger: options.logger ?? false,
    clientErrorHandler: (error, socket) => pending.handleClientError(error, socket),
    bodyLimit: options.bodyLimit ?? SERVER_DEFAULTS.bodyLimit,
    // Types are checked, never coerced ("5" is not a number); unknown fields are kept and ignored.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false } },
  });
  app.removeContentTypeParser('text/plain'); // bodies are JSON; anything else is 415
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  app.addHook('onRequest', async (request, reply) => {
    pending.track(request.raw, reply.raw);
    if (lifecycle.isDraining && request.url !== '/metrics') {
      const refusal = mapError(shuttingDown());
      metrics.recordHttpError(refusal.status);
      return reply.status(refusal.status).headers(refusal.headers).send(request.url === '/health' ? { status: 'draining' } : refusal.body);
    }
  });
  const metrics = new ServerMetrics(options.modelName ?? engine.modelName);
  const active = new Set<RequestHandle>();
  const chatTemplate = new ChatTemplate(engine.chatTemplate, engine.specialTokens, engine.chatTemplates?.named);
  app.setErrorHandler((error, request, reply) => {
    const { status, body, headers } = mapError(error);
    metrics.recordHttpError(status);
    if (status >= 500 && status !== 503) request.log.error(error);
    return reply.status(status).headers(headers).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const { status, body } = notFound(request.method, request.url);
    metrics.recordHttpError(status);
    return reply.status(status).send(body);
  });
  registerRoutes(app, {
    engine,
    lifecycle,
    servedModelName: options.modelName ?? engine.modelName,
    chatTemplate,
    texts: new TokenTexts(engine.tokenizer),
    metrics,
    active,
    startedAt: Date.now(),
  });
  return { app, metrics, active, lifecycle };
}

/** Graceful shutdown: the running requests' time to finish, then the stragglers are ended. */
async function drain(active: Set<RequestHandle>, graceMs: number): Promise<void> {
  const deadline = performance.now() + graceMs;
  while (active.size > 0 && performance.now() < deadline) {
    await Promise.race([Promise.allSettled([...active].map((h) => h.done)), new Promise((resolve) => setTimeout(resolve, Math.max(1, deadline - performance.now())))]);
  }
  for (const handle of [...active]) handle.abort();
}

/** Starts the server and resolves once it listens. */
export async function createServer(engine: NanoServingEngine, options: ServerOptions = {}): Promise<NanoServer> {
  const { app, metrics, active, lifecycle } = buildApp(engine, options);
  const host = options.host ?? SERVER_DEFAULTS.host;
  await app.listen({ host, port: options.port ?? SERVER_DEFAULTS.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? SERVER_DEFAULTS.port);
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    app,
    url: `http://${urlHost}:${port}`,
    port,
    metrics,
    async close(closeOptions = {}) {
      lifecycle.isDraining = true;
      await drain(active, closeOptions.graceMs ?? 0);
      await app.close();
    },
  };
}
