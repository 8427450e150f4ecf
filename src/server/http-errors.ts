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
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface MappedError {
  status: number;
  body: ErrorBody;
}

function mapped(status: number, message: string, type: string, code: string | null, param: string | null = null): MappedError {
  return { status, body: { error: { message, type, param, code } } };
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
};

function engineError(error: NanoServingError): MappedError {
  if (error instanceof InvalidRequestError) {
    const param = error.param === undefined ? null : (API_PARAM[error.param] ?? error.param);
    return mapped(400, error.message, 'invalid_request_error', 'invalid_value', param);
  }
  if (error instanceof CapacityError) {
    if (error.code === 'ERR_QUEUE_FULL') return mapped(429, error.message, 'rate_limit_error', 'queue_full');
    if (error.code === 'ERR_CONTEXT_LENGTH') return mapped(400, error.message, 'invalid_request_error', 'context_length_exceeded', 'max_tokens');
    return mapped(400, error.message, 'invalid_request_error', error.code.toLowerCase().replace(/^err_/, ''));
  }
  if (error instanceof EngineClosedError) return mapped(503, error.message, 'service_unavailable', 'engine_closed');
  return mapped(500, error.message, 'server_error', error.code.toLowerCase().replace(/^err_/, ''));
}

/** A schema failure: the first ajv error names the parameter. */
function validationError(error: FastifyError): MappedError {
  const first = error.validation?.[0];
  const missing = (first?.params as { missingProperty?: string } | undefined)?.missingProperty;
  const path = (first?.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  const param = missing ?? (path || null);
  const message = param ? `${param}: ${first?.message ?? 'is invalid'}` : `the request body ${first?.message ?? 'is invalid'}`;
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
  if (error instanceof HttpError) return mapped(error.statusCode, error.message, error.type, error.code, error.param);
  if (error instanceof NanoServingError) return engineError(error);
  const fastify = error as FastifyError;
  if (fastify?.validation) return validationError(fastify);
  if (error instanceof Error) return fastifyError(fastify);
  return mapped(500, String(error), 'server_error', null);
}

export function notFound(method: string, url: string): MappedError {
  return mapped(404, `no route ${method} ${url}`, 'invalid_request_error', 'unknown_url');
}
