/**
 * JSON schemas of the request bodies, checked by Fastify's ajv before a handler runs
 * (types, ranges, n = 1). What only the engine knows (the vocabulary, the context
 * length, the pool size) is checked by engine.submit() and mapped to the same error shape.
 * Unknown fields are accepted and ignored, as OpenAI clients send extras.
 */

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
  n: integer({ minimum: 1, maximum: 1 }),
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
    // One prompt: text, token ids, or a one-element array of either (batches are not served).
    prompt: {
      anyOf: [
        { type: 'string', minLength: 1 },
        tokenIds,
        { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, maxItems: 1 },
        { type: 'array', items: tokenIds, minItems: 1, maxItems: 1 },
      ],
    },
    logprobs: integer({ minimum: 0, maximum: 20 }),
    echo: { type: 'boolean', nullable: true, enum: [false, null] },
    best_of: integer({ minimum: 1, maximum: 1 }),
  },
} as const;

const contentPart = {
  type: 'object',
  required: ['type', 'text'],
  properties: { type: { const: 'text' }, text: { type: 'string' } },
};

const message = {
  type: 'object',
  required: ['role'],
  properties: {
    role: { type: 'string', enum: ['system', 'developer', 'user', 'assistant', 'tool'] },
    content: nullable({ type: 'string' }, { type: 'array', items: contentPart }),
    name: { type: 'string' },
  },
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
}

export interface CompletionBody extends SamplingBody {
  prompt: string | number[] | [string] | [number[]];
  logprobs?: number | null;
}

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content?: string | Array<{ type: 'text'; text: string }> | null;
  name?: string;
}

export interface ChatBody extends SamplingBody {
  messages: ChatMessage[];
  max_completion_tokens?: number | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
}
