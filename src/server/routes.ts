/**
 * The routes: the two generation endpoints, the model list, health and metrics.
 * Handlers check the model name, build the prompt and the sampling parameters, submit
 * (typed errors go to the error handler before anything is sent), then respond.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { NanoServingEngine } from '../engine/engine.js';
import type { SamplingParams } from '../engine/sampling.js';
import type { ChatTemplate } from './chat-template.js';
import { chatFormat, completionFormat, type ResponseFormat } from './formats.js';
import { respondStream, respondWhole, type GenerationContext } from './generation.js';
import { HttpError } from './http-errors.js';
import type { TokenTexts } from './logprobs.js';
import type { ServerMetrics } from './metrics.js';
import { chatParams, completionParams, completionPrompt, includeUsage } from './params.js';
import { chatBodySchema, completionBodySchema, type ChatBody, type CompletionBody, type SamplingBody } from './schemas.js';

export interface RouteContext extends GenerationContext {
  engine: NanoServingEngine;
  /** The name clients use; the engine's own model name is accepted too. */
  servedModelName: string;
  chatTemplate: ChatTemplate;
  texts: TokenTexts;
  metrics: ServerMetrics;
  startedAt: number;
}

export function registerRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.post<{ Body: CompletionBody }>('/v1/completions', { schema: { body: completionBodySchema } }, async (request, reply) => {
    const body = request.body;
    checkModel(ctx, body);
    const format = completionFormat({ model: ctx.servedModelName, texts: ctx.texts, withUsage: includeUsage(body) });
    return generate(ctx, reply, body, completionPrompt(body), completionParams(body), format);
  });

  app.post<{ Body: ChatBody }>('/v1/chat/completions', { schema: { body: chatBodySchema } }, async (request, reply) => {
    const body = request.body;
    checkModel(ctx, body);
    const params = chatParams(body);
    // The rendered text holds the template's own special tokens: encoded without adding any (as transformers does).
    const prompt = ctx.engine.encode(ctx.chatTemplate.render(body.messages), { addSpecialTokens: false });
    const format = chatFormat({ model: ctx.servedModelName, texts: ctx.texts, withUsage: includeUsage(body) });
    return generate(ctx, reply, body, prompt, params, format);
  });

  app.get('/v1/models', async () => ({ object: 'list', data: [modelCard(ctx)] }));

  app.get<{ Params: { model: string } }>('/v1/models/:model', async (request) => {
    checkModel(ctx, { model: request.params.model });
    return modelCard(ctx);
  });

  app.get('/health', async () => {
    const stats = ctx.engine.stats();
    return { status: 'ok', model: ctx.servedModelName, running: stats.running, waiting: stats.waiting };
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await ctx.metrics.render(ctx.engine.stats());
    return reply.type(ctx.metrics.contentType).send(text);
  });
}

async function generate(
  ctx: RouteContext,
  reply: FastifyReply,
  body: SamplingBody,
  prompt: string | number[],
  params: SamplingParams,
  format: ResponseFormat,
): Promise<object | undefined> {
  const handle = ctx.engine.submit(prompt, params);
  if (body.stream) {
    await respondStream(ctx, handle, reply, format, includeUsage(body));
    return undefined;
  }
  return respondWhole(ctx, handle, reply, format);
}

/** The model field may be omitted, the served name, or the engine's own name (lenient, like vLLM). */
function checkModel(ctx: RouteContext, body: { model?: string | null }): void {
  const model = body.model;
  if (model === undefined || model === null || model === ctx.servedModelName || model === ctx.engine.modelName) return;
  throw new HttpError(404, `the model "${model}" does not exist; this server serves "${ctx.servedModelName}"`, 'invalid_request_error', 'model_not_found', 'model');
}

function modelCard(ctx: RouteContext): object {
  return {
    id: ctx.servedModelName,
    object: 'model',
    created: Math.floor(ctx.startedAt / 1000),
    owned_by: 'nano-serving',
    root: ctx.engine.modelName,
    max_model_len: ctx.engine.info.contextLength,
  };
}
