/**
 * JSON schemas of the request bodies, checked by Fastify's ajv before a handler runs
 * (types, ranges). What only the engine knows (the vocabulary, the context length, the pool
 * size, whether a grammar compiles) is checked by engine.submit() and mapped to the same error
 * shape. Which fields exist at all is request-fields.ts's business: an unknown one is refused.
 */
import type { ClientMessage } from './chat-messages.js';
import type { ChatTool, ToolChoice } from './tools.js';

/** Most choices one request may ask for (n). */
export const MAX_N = 16;
/** Most prompts in one completions request. */
export const MAX_PROMPTS = 64;

const nullable = (...schemas: Array<Record<string, unknown>>): Record<string, unknown> => ({ anyOf: [...schemas, { type: 'null' }] });
const number = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ type: 'number', nullable: true, ...extra });
const integer = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ type: 'integer', nullable: true, ...extra });
const boolean = { type: 'boolean', nullable: true };
const tokenIds = { type: 'array', items: { type: 'integer', minimum: 0 }, minItems: 1 };

/** Parameters both endpoints take (OpenAI's and vLLM's sampling extras). */
const samplingProperties = {
  model: { type: 'string', nullable: true },
  max_tokens: integer({ minimum: 1 }),
  temperature: number({ minimum: 0 }),
  top_p: number({ exclusiveMinimum: 0, maximum: 1 }),
  seed: integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  stop: nullable({ type: 'string', minLength: 1 }, { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 16 }),
  n: integer({ minimum: 1, maximum: MAX_N }),
  logit_bias: { type: 'object', nullable: true, additionalProperties: { type: 'number', minimum: -100, maximum: 100 } },
  response_format: {
    type: 'object',
    nullable: true,
    required: ['type'],
    properties: {
      type: { type: 'string', enum: ['text', 'json_object', 'json_schema', 'regex', 'grammar'] },
      json_schema: { type: 'object', required: ['schema'], properties: { name: { type: 'string' }, schema: { anyOf: [{ type: 'object' }, { type: 'boolean' }] }, strict: boolean, description: { type: 'string' } } },
    },
  },
  priority: integer(),
  guided_json: { anyOf: [{ type: 'object' }, { type: 'boolean' }, { type: 'string' }, { type: 'null' }] },
  guided_regex: { type: 'string', nullable: true },
  guided_choice: { type: 'array', nullable: true, items: { type: 'string' }, minItems: 1 },
  guided_grammar: { type: 'string', nullable: true },
  structured_outputs: { type: 'object', nullable: true },
  presence_penalty: number({ minimum: -2, maximum: 2 }),
  frequency_penalty: number({ minimum: -2, maximum: 2 }),
  stream: boolean,
  stream_options: { type: 'object', nullable: true, properties: { include_usage: boolean } },
  top_k: integer({ minimum: -1 }),
  min_p: number({ minimum: 0, maximum: 1 }),
  repetition_penalty: number({ exclusiveMinimum: 0 }),
  ignore_eos: boolean,
  stop_token_ids: { type: 'array', nullable: true, items: { type: 'integer', minimum: 0 } },
};

export const completionBodySchema = {
  type: 'object',
  required: ['prompt'],
  properties: {
    ...samplingProperties,
    // Text, token ids, or a list of either (served as a batch, choices in prompt order).
    prompt: {
      anyOf: [
        { type: 'string', minLength: 1 },
        tokenIds,
        { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, maxItems: MAX_PROMPTS },
        { type: 'array', items: tokenIds, minItems: 1, maxItems: MAX_PROMPTS },
      ],
    },
    logprobs: integer({ minimum: 0, maximum: 20 }),
    echo: boolean,
  },
} as const;

// Part types other than text are refused by name in chat-messages.ts.
const contentPart = { type: 'object', required: ['type'], properties: { type: { type: 'string' } } };

const toolCall = {
  type: 'object',
  required: ['id', 'type', 'function'],
  properties: {
    id: { type: 'string' },
    type: { const: 'function' },
    function: { type: 'object', required: ['name', 'arguments'], properties: { name: { type: 'string' }, arguments: { type: 'string' } } },
  },
};

const message = {
  type: 'object',
  required: ['role'],
  properties: {
    role: { type: 'string', enum: ['system', 'developer', 'user', 'assistant', 'tool'] },
    content: nullable({ type: 'string' }, { type: 'array', items: contentPart }),
    name: { type: 'string' },
    tool_calls: { type: 'array', nullable: true, items: toolCall },
    tool_call_id: { type: 'string' },
  },
};

const tool = {
  type: 'object',
  required: ['type', 'function'],
  properties: {
    type: { const: 'function' },
    function: {
      type: 'object',
      required: ['name'],
      properties: {
        name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
        description: { type: 'string' },
        parameters: { type: 'object' },
        strict: boolean,
      },
    },
  },
};

const toolChoice = {
  anyOf: [
    { type: 'string', enum: ['none', 'auto', 'required'] },
    { type: 'object', required: ['type', 'function'], properties: { type: { const: 'function' }, function: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } } },
  ],
};

export const chatBodySchema = {
  type: 'object',
  required: ['messages'],
  properties: {
    ...samplingProperties,
    messages: { type: 'array', items: message, minItems: 1 },
    max_completion_tokens: integer({ minimum: 1 }),
    logprobs: boolean,
    top_logprobs: integer({ minimum: 0, maximum: 20 }),
    tools: { type: 'array', nullable: true, items: tool, maxItems: 128 },
    tool_choice: { anyOf: [...toolChoice.anyOf, { type: 'null' }] },
    parallel_tool_calls: boolean,
    chat_template_kwargs: { type: 'object', nullable: true },
    add_generation_prompt: boolean,
  },
} as const;

/** The bodies as handlers see them after validation. */
export interface SamplingBody {
  model?: string | null;
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  n?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
  top_k?: number | null;
  min_p?: number | null;
  repetition_penalty?: number | null;
  ignore_eos?: boolean | null;
  stop_token_ids?: number[] | null;
  logit_bias?: Record<string, number> | null;
  response_format?: { type: string; json_schema?: { name?: string; schema: Record<string, unknown> | boolean; strict?: boolean | null } } | null;
  priority?: number | null;
  guided_json?: Record<string, unknown> | boolean | string | null;
  guided_regex?: string | null;
  guided_choice?: string[] | null;
  guided_grammar?: string | null;
  structured_outputs?: Record<string, unknown> | null;
}

export interface CompletionBody extends SamplingBody {
  prompt: string | number[] | string[] | number[][];
  logprobs?: number | null;
  echo?: boolean | null;
}

export type { ClientMessage as ChatMessage } from './chat-messages.js';

export interface ChatBody extends SamplingBody {
  messages: ClientMessage[];
  max_completion_tokens?: number | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  tools?: ChatTool[] | null;
  tool_choice?: ToolChoice | null;
  parallel_tool_calls?: boolean | null;
  chat_template_kwargs?: Record<string, unknown> | null;
  add_generation_prompt?: boolean | null;
}
