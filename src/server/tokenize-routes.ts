/**
 * vLLM's POST /tokenize and POST /detokenize: a prompt (or chat messages rendered by the
 * chat template, with tools) to the token ids the engine would run, and ids back to text.
 *   /tokenize   { prompt } | { messages, tools?, add_generation_prompt?, chat_template_kwargs? }
 *               -> { count, max_model_len, tokens, token_strs? (return_token_strs) }
 *   /detokenize { tokens } -> { prompt }
 */
import type { FastifyInstance } from 'fastify';
import { templateMessages, type ClientMessage } from './chat-messages.js';
import { HttpError } from './http-errors.js';
import { checkFields } from './request-fields.js';
import type { RouteContext } from './routes.js';
import type { ChatTool } from './tools.js';

interface TokenizeBody {
  model?: string | null;
  prompt?: string;
  messages?: ClientMessage[];
  tools?: ChatTool[] | null;
  add_generation_prompt?: boolean | null;
  add_special_tokens?: boolean | null;
  chat_template_kwargs?: Record<string, unknown> | null;
  return_token_strs?: boolean | null;
}

const TOKENIZE_FIELDS = {
  model: 'honoured',
  prompt: 'honoured',
  messages: 'honoured',
  tools: 'honoured',
  add_generation_prompt: 'honoured',
  chat_template_kwargs: 'honoured',
  return_token_strs: 'honoured',
  add_special_tokens: (v: unknown) => (v === undefined || v === null || v === true ? undefined : 'only true is supported (the ids the engine runs)'),
} as const;

const tokenizeSchema = {
  type: 'object',
  properties: {
    model: { type: 'string', nullable: true },
    prompt: { type: 'string' },
    messages: { type: 'array', minItems: 1, items: { type: 'object', required: ['role'] } },
    tools: { type: 'array', nullable: true, items: { type: 'object' } },
    add_generation_prompt: { type: 'boolean', nullable: true },
    add_special_tokens: { type: 'boolean', nullable: true },
    chat_template_kwargs: { type: 'object', nullable: true },
    return_token_strs: { type: 'boolean', nullable: true },
  },
};

const detokenizeSchema = {
  type: 'object',
  required: ['tokens'],
  properties: { model: { type: 'string', nullable: true }, tokens: { type: 'array', items: { type: 'integer', minimum: 0 } } },
};

export function registerTokenizeRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.post<{ Body: TokenizeBody }>('/tokenize', { schema: { body: tokenizeSchema } }, async (request) => {
    const body = request.body;
    checkFields(body as Record<string, unknown>, TOKENIZE_FIELDS);
    checkModelName(ctx, body.model);
    if ((body.prompt === undefined) === (body.messages === undefined)) throw new HttpError(400, 'give exactly one of prompt and messages', 'invalid_request_error', 'invalid_value', body.prompt === undefined ? 'prompt' : 'messages');
    // Exactly what the endpoints run: a prompt as /v1/completions encodes it, messages rendered and encoded as chat does.
    const tokens =
      body.prompt !== undefined
        ? ctx.engine.encode(body.prompt)
        : ctx.engine.encode(
            ctx.chatTemplate.render(templateMessages(body.messages!), {
              tools: body.tools ?? undefined,
              kwargs: body.chat_template_kwargs ?? undefined,
              addGenerationPrompt: body.add_generation_prompt ?? true,
            }),
            { addSpecialTokens: false },
          );
    return {
      count: tokens.length,
      max_model_len: ctx.engine.info.contextLength,
      tokens,
      ...(body.return_token_strs ? { token_strs: tokens.map((t) => ctx.texts.of(t)) } : {}),
    };
  });

  app.post<{ Body: { model?: string | null; tokens: number[] } }>('/detokenize', { schema: { body: detokenizeSchema } }, async (request) => {
    const body = request.body;
    checkFields(body as Record<string, unknown>, { model: 'honoured', tokens: 'honoured' });
    checkModelName(ctx, body.model);
    const vocab = ctx.engine.tokenizer.vocabSize;
    const bad = body.tokens.findIndex((t) => t >= vocab);
    if (bad >= 0) throw new HttpError(400, `tokens[${bad}]: ${body.tokens[bad]} is outside the vocabulary [0, ${vocab})`, 'invalid_request_error', 'invalid_value', `tokens[${bad}]`);
    return { prompt: ctx.texts.decode(body.tokens) };
  });
}

function checkModelName(ctx: RouteContext, model: string | null | undefined): void {
  if (model === undefined || model === null || model === ctx.servedModelName || model === ctx.engine.modelName) return;
  throw new HttpError(404, `the model "${model}" does not exist; this server serves "${ctx.servedModelName}"`, 'invalid_request_error', 'model_not_found', 'model');
}
