/**
 * The routes: the two generation endpoints, the model list, health and metrics.
 * Handlers check the model name, build the prompt and the sampling parameters, submit
 * (typed errors go to the error handler before anything is sent), then respond.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { NanoServingEngine } from '../engine/engine.js';
import type { SamplingParams } from '../engine/sampling.js';
import type { ResponseFormat as OutputConstraint } from '../grammar/response-format.js';
import { templateMessages } from './chat-messages.js';
import type { ChatTemplate } from './chat-template.js';
import { chatFormat, completionFormat, type ResponseFormat } from './formats.js';
import { respondStream, respondWhole, submitChoices, type ChoiceJob, type GenerationContext } from './generation.js';
import { HttpError, inClientTerms } from './http-errors.js';
import type { TokenTexts } from './logprobs.js';
import type { ServerMetrics } from './metrics.js';
import { chatParams, completionParams, completionPrompts, includeUsage, submitOptions } from './params.js';
import { CHAT_FIELDS, checkFields, COMPLETION_FIELDS } from './request-fields.js';
import { chatBodySchema, completionBodySchema, type ChatBody, type CompletionBody, type SamplingBody } from './schemas.js';
import { structuredOutput } from './structured-output.js';
import { toolFormatFor, type ToolFormat } from './tool-format.js';
import { planTools } from './tools.js';
import { registerTokenizeRoutes } from './tokenize-routes.js';

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
    checkFields(body as unknown as Record<string, unknown>, COMPLETION_FIELDS);
    checkModel(ctx, body);
    const params = completionParams(body);
    const constraint = await prepareConstraint(ctx, structuredOutput(body));
    if (constraint) params.responseFormat = constraint;
    const prompts = completionPrompts(body);
    if (body.echo && params.logprobs !== undefined) throw new HttpError(400, 'echo: cannot be combined with logprobs (prompt logprobs are not computed)', 'invalid_request_error', 'unsupported_parameter', 'echo');
    const n = body.n ?? 1;
    const jobs: ChoiceJob[] = [];
    prompts.forEach((prompt, p) => {
      const echo = body.echo ? (typeof prompt === 'string' ? prompt : ctx.texts.decode(prompt)) : undefined;
      for (let k = 0; k < n; k++) jobs.push(copyJob(p * n + k, prompt, params, k === 0 ? undefined : p * n, echo, body));
    });
    const format = completionFormat({ model: ctx.servedModelName, texts: ctx.texts, withUsage: includeUsage(body) });
    return generate(ctx, reply, body, jobs, format);
  });

  app.post<{ Body: ChatBody }>('/v1/chat/completions', { schema: { body: chatBodySchema } }, async (request, reply) => {
    const body = request.body;
    checkFields(body as unknown as Record<string, unknown>, CHAT_FIELDS);
    checkModel(ctx, body);
    const params = chatParams(body);
    const toolFormat = toolFormatFor(ctx.chatTemplate.toolSource);
    const tools = await planTools(body.tools, body.tool_choice, body.parallel_tool_calls ?? true, toolFormat);
    const structured = structuredOutput(body);
    if (structured && tools.parsesCalls) {
      throw new HttpError(400, `${structured.param}: cannot be combined with tools unless tool_choice is "none"`, 'invalid_request_error', 'unsupported_parameter', structured.param);
    }
    const constraint = await prepareConstraint(ctx, tools.responseFormat ? { format: tools.responseFormat, param: 'tools' } : structured);
    if (constraint) params.responseFormat = constraint;
    const text = ctx.chatTemplate.render(templateMessages(body.messages), {
      tools: tools.templateTools,
      kwargs: body.chat_template_kwargs ?? undefined,
      addGenerationPrompt: body.add_generation_prompt ?? true,
    });
    // The rendered text holds the template's own special tokens: encoded without adding any (as transformers does).
    const prompt = ctx.engine.encode(text, { addSpecialTokens: false });
    const n = body.n ?? 1;
    const jobs = Array.from({ length: n }, (_, k) => copyJob(k, prompt, params, k === 0 ? undefined : 0, undefined, body));
    const format = chatFormat({ model: ctx.servedModelName, texts: ctx.texts, withUsage: includeUsage(body) });
    return generate(ctx, reply, body, jobs, format, tools.parsesCalls ? toolFormat : undefined);
  });

  registerTokenizeRoutes(app, ctx);

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

/** Copy k of a prompt: copies after the first get their own seed (seed + k), so seeded choices differ. */
function copyJob(index: number, prompt: string | number[], params: SamplingParams, copyOf: number | undefined, echo: string | undefined, body: SamplingBody): ChoiceJob {
  const k = copyOf === undefined ? 0 : index - copyOf;
  const seeded = params.seed !== undefined && k > 0 ? { ...params, seed: (params.seed + k) % Number.MAX_SAFE_INTEGER } : params;
  return { index, prompt, params: seeded, options: submitOptions(body), copyOf, echo };
}

/** Compiles a constraint before anything is submitted, so one that cannot compile is a 400 naming the client's parameter. */
async function prepareConstraint(ctx: RouteContext, found: { format: OutputConstraint; param: string } | undefined): Promise<OutputConstraint | undefined> {
  if (!found) return undefined;
  try {
    await ctx.engine.prepareResponseFormat(found.format);
  } catch (error) {
    const message = error instanceof Error ? error.message.replace(/^responseFormat(\.\w+)?/, found.param) : String(error);
    throw new HttpError(400, message, 'invalid_request_error', 'invalid_value', found.param);
  }
  return found.format;
}

async function generate(ctx: RouteContext, reply: FastifyReply, body: SamplingBody, jobs: ChoiceJob[], format: ResponseFormat, tools?: ToolFormat): Promise<object | undefined> {
  const isChat = 'messages' in body;
  const names = { prompt: isChat ? ('messages' as const) : ('prompt' as const), maxTokens: isChat && (body as ChatBody).max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens' };
  let choices: ReturnType<typeof submitChoices>;
  try {
    choices = submitChoices(ctx, jobs);
  } catch (error) {
    throw inClientTerms(error, names);
  }
  if (body.stream) {
    await respondStream(ctx, choices, reply, format, includeUsage(body), tools);
    return undefined;
  }
  return respondWhole(ctx, choices, reply, format, tools);
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
