/**
 * OpenAI-style error bodies `{ error: { message, type, param, code } }` and the HTTP status
 * of every error the server can meet: Fastify's (bad JSON, schema, body size, media type),
 * the engine's typed errors, and the server's own (unknown model). User input never gets a 500.
 */
import type { FastifyError } from 'fastify';
import { CapacityError, EngineClosedError, InvalidRequestError, NanoServingError } from '../errors.js';

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** An error the server raises itself, with its status already decided. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly type: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    /** e.g. Retry-After on 429 and 503. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Seconds a client should wait before retrying a request refused for load (429) or shutdown (503). */
export const RETRY_AFTER_SECONDS = { queueFull: 1, unavailable: 5 };

export function shuttingDown(): HttpError {
  return new HttpError(503, 'the server is shutting down; retry on another replica or later', 'service_unavailable', 'shutting_down', null, { 'retry-after': String(RETRY_AFTER_SECONDS.unavailable) });
}

export interface MappedError {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
}

function mapped(status: number, message: string, type: string, code: string | null, param: string | null = null, headers: Record<string, string> = {}): MappedError {
  return { status, body: { error: { message, type, param, code } }, headers };
}

/** The engine's parameter names (camelCase) as the API spells them. */
const API_PARAM: Record<string, string> = {
  maxTokens: 'max_tokens',
  topK: 'top_k',
  topP: 'top_p',
  minP: 'min_p',
  stopTokenIds: 'stop_token_ids',
  ignoreEos: 'ignore_eos',
  presencePenalty: 'presence_penalty',
  frequencyPenalty: 'frequency_penalty',
  repetitionPenalty: 'repetition_penalty',
  logitBias: 'logit_bias',
  responseFormat: 'response_format',
  'responseFormat.schema': 'response_format.json_schema.schema',
  'responseFormat.pattern': 'response_format',
  'responseFormat.grammar': 'response_format',
  logprobs: 'logprobs',
};

/** An engine error in the client's terms: its parameters named as the API spells them, a too-long prompt blamed on the prompt. */
export function inClientTerms(error: unknown, names: { prompt: 'prompt' | 'messages'; maxTokens: string }): unknown {
  const rename = (text: string): string =>
    text.replace(/\bmaxTokens\b/g, names.maxTokens).replace(/\b(topK|topP|minP|stopTokenIds|ignoreEos|presencePenalty|frequencyPenalty|repetitionPenalty|logitBias)\b/g, (k) => API_PARAM[k] ?? k);
  if (error instanceof CapacityError && (error.code === 'ERR_CONTEXT_LENGTH' || error.code === 'ERR_KV_CAPACITY')) {
    const aboutOutput = /maxTokens/.test(error.message);
    const message = rename(error.message).replace(/^prompt\b/, names.prompt === 'messages' ? 'messages (rendered)' : 'prompt');
    const code = error.code === 'ERR_CONTEXT_LENGTH' ? 'context_length_exceeded' : 'kv_capacity';
    return new HttpError(400, message, 'invalid_request_error', code, aboutOutput ? names.maxTokens : names.prompt);
  }
  if (error instanceof InvalidRequestError) {
    const param = error.param === 'prompt' ? names.prompt : error.param === 'maxTokens' ? names.maxTokens : error.param === undefined ? null : (API_PARAM[error.param] ?? error.param);
    return new HttpError(400, rename(error.message).replace(/^prompt\b/, names.prompt), 'invalid_request_error', 'invalid_value', param);
  }
  return error;
}

function engineError(error: NanoServingError): MappedError {
  if (error instanceof InvalidRequestError) {
    const param = error.param === undefined ? null : (API_PARAM[error.param] ?? error.param);
    return mapped(400, error.message, 'invalid_request_error', 'invalid_value', param);
  }
  if (error instanceof CapacityError) {
    if (error.code === 'ERR_QUEUE_FULL') return mapped(429, error.message, 'rate_limit_error', 'queue_full', null, { 'retry-after': String(RETRY_AFTER_SECONDS.queueFull) });
    if (error.code === 'ERR_CONTEXT_LENGTH') return mapped(400, error.message, 'invalid_request_error', 'context_length_exceeded', 'max_tokens');
    return mapped(400, error.message, 'invalid_request_error', error.code.toLowerCase().replace(/^err_/, ''));
  }
  if (error instanceof EngineClosedError) return mapped(503, error.message, 'service_unavailable', 'engine_closed', null, { 'retry-after': String(RETRY_AFTER_SECONDS.unavailable) });
  return mapped(500, error.message, 'server_error', error.code.toLowerCase().replace(/^err_/, ''));
}

/** What a parameter accepts when it takes several shapes (ajv would only report its first shape's failure). */
const SHAPES: Record<string, string> = {
  prompt: 'must be a non-empty string, an array of token ids, or a list of either (one batch)',
  stop: 'must be a string or a list of strings',
  tool_choice: 'must be "none", "auto", "required" or { "type": "function", "function": { "name": ... } }',
  content: 'must be a string or a list of content parts',
};

/** A schema failure: the first ajv error names the parameter. */
function validationError(error: FastifyError): MappedError {
  const first = error.validation?.[0];
  const missing = (first?.params as { missingProperty?: string } | undefined)?.missingProperty;
  const path = (first?.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  const param = missing ?? (path || null);
  const shape = param ? SHAPES[param.split('.').at(-1)!.replace(/\[\d+\]$/, '')] : undefined;
  const message = param ? `${param}: ${shape ?? first?.message ?? 'is invalid'}` : `the request body ${first?.message ?? 'is invalid'}`;
  return mapped(400, message, 'invalid_request_error', missing ? 'missing_required_parameter' : 'invalid_value', param);
}

function fastifyError(error: FastifyError): MappedError {
  const status = error.statusCode ?? 500;
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return mapped(413, error.message, 'invalid_request_error', 'body_too_large');
  if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return mapped(400, `invalid JSON body: ${error.message}`, 'invalid_request_error', 'invalid_json');
  }
  if (status >= 400 && status < 500) return mapped(status, error.message, 'invalid_request_error', error.code?.toLowerCase() ?? null);
  return mapped(500, error.message, 'server_error', null);
}

/** The status and body for any error a route can throw. */
export function mapError(error: unknown): MappedError {
  if (error instanceof HttpError) return mapped(error.statusCode, error.message, error.type, error.code, error.param, error.headers);
  if (error instanceof NanoServingError) return engineError(error);
  const fastify = error as FastifyError;
  if (fastify?.validation) return validationError(fastify);
  if (error instanceof Error) return fastifyError(fastify);
  return mapped(500, String(error), 'server_error', null);
}

export function notFound(method: string, url: string): MappedError {
  return mapped(404, `no route ${method} ${url}`, 'invalid_request_error', 'unknown_url');
}
