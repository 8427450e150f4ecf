/** Sampling parameters: what users pass, their defaults, and their validation (typed errors, before anything is scheduled). */
import { InvalidRequestError } from '../errors.js';
import { checkResponseFormat, type ResponseFormat } from '../grammar/response-format.js';

export interface SamplingParams {
  /** Tokens to generate at most (>= 1). Default: 256, capped by the context. */
  maxTokens?: number;
  /** 0 = greedy (the default). */
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  /** Integer in [0, 2^53). Default: derived from the request id. */
  seed?: number;
  /** Stop strings: generation ends when the text contains one; it is never streamed. */
  stop?: string[];
  stopTokenIds?: number[];
  /** Keep generating past the model's end-of-sequence tokens. */
  ignoreEos?: boolean;
  presencePenalty?: number;
  frequencyPenalty?: number;
  repetitionPenalty?: number;
  /** Top-n alternatives per token (0..20); the chosen token's logprob is returned whenever this is set. */
  logprobs?: number;
  /** Added to the logits of these token ids (after penalties, before temperature): -100 bans a token, +100 all but forces it. */
  logitBias?: Readonly<Record<number, number>>;
  /** Constrains the output: JSON (any object, or a JSON Schema), a regex, or an EBNF grammar. Default: text. */
  responseFormat?: ResponseFormat;
}

/**
 * Sampling values a model ships (generation_config.json), applied where a request leaves them unset.
 * maxTokens (max_new_tokens) is not filled into the request: the engine uses it as the default the
 * room left in the context clamps, like its own default of 256.
 */
export type SamplingDefaults = Pick<SamplingParams, 'temperature' | 'topK' | 'topP' | 'repetitionPenalty' | 'maxTokens'>;

/** params with each unset field of defaults filled in (the request's own values always win). */
export function withSamplingDefaults(params: SamplingParams, defaults: SamplingDefaults | undefined): SamplingParams {
  if (!defaults || typeof params !== 'object' || params === null) return params;
  const out: SamplingParams = { ...params };
  for (const key of ['temperature', 'topK', 'topP', 'repetitionPenalty'] as const) {
    if (out[key] === undefined && defaults[key] !== undefined) out[key] = defaults[key];
  }
  return out;
}

export interface ResolvedSampling {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  seed: number;
  stop: string[];
  stopTokenIds: number[];
  ignoreEos: boolean;
  presencePenalty: number;
  frequencyPenalty: number;
  repetitionPenalty: number;
  logprobs: number | undefined;
  hasPenalties: boolean;
  responseFormat: ResponseFormat | undefined;
  /** [token id, bias] pairs, ids ascending. */
  logitBias: Array<[number, number]>;
  /** stop, stopTokenIds and logitBias are non-empty (read per token and per step: flags beside the other scalars). */
  hasStopStrings: boolean;
  hasStopTokenIds: boolean;
  hasLogitBias: boolean;
}

export const DEFAULT_MAX_TOKENS = 256;

/** Every key SamplingParams accepts (the Record type makes a new field fail to compile until it is listed here). */
const SAMPLING_KEYS: Record<keyof SamplingParams, true> = {
  maxTokens: true,
  temperature: true,
  topK: true,
  topP: true,
  minP: true,
  seed: true,
  stop: true,
  stopTokenIds: true,
  ignoreEos: true,
  presencePenalty: true,
  frequencyPenalty: true,
  repetitionPenalty: true,
  logprobs: true,
  logitBias: true,
  responseFormat: true,
};

/** Refuses a key SamplingParams does not have (`max_tokens`, `maxNewTokens`), naming it and the closest known key. */
function checkKeys(params: object): void {
  for (const key of Object.keys(params)) {
    if (Object.hasOwn(SAMPLING_KEYS, key)) continue;
    const hint = closestKey(key);
    throw new InvalidRequestError(`unknown sampling parameter '${key}'${hint ? ` (did you mean '${hint}'?)` : ''}`, key);
  }
}

function closestKey(key: string): string | undefined {
  const squash = (k: string): string => k.toLowerCase().replace(/[_-]/g, '');
  const wanted = squash(key);
  const aliases: Record<string, string> = { maxnewtokens: 'maxTokens', maxcompletiontokens: 'maxTokens', stopsequences: 'stop', toplogprobs: 'logprobs' };
  return Object.keys(SAMPLING_KEYS).find((k) => squash(k) === wanted) ?? aliases[wanted];
}
const MAX_LOGPROBS = 20;

function check(condition: boolean, param: string, message: string): void {
  if (!condition) throw new InvalidRequestError(`${param}: ${message}`, param);
}

function isInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}

/** A finite number that stays finite as the float32 the executor receives (so no request can fail a batch). */
function finite(params: SamplingParams, name: keyof SamplingParams, fallback: number): number {
  const value = params[name];
  if (value === undefined) return fallback;
  check(typeof value === 'number' && Number.isFinite(Math.fround(value)), name, `must be a finite number (float32 range), got ${String(value)}`);
  return value as number;
}

const INT32_MAX = 2 ** 31 - 1;

export function resolveSampling(
  params: SamplingParams,
  ctx: { vocabSize: number; maxNewTokens: number; defaultSeed: number; defaultMaxTokens?: number },
): ResolvedSampling {
  check(typeof params === 'object' && params !== null && !Array.isArray(params), 'params', 'must be an object');
  checkKeys(params);
  const maxTokens = params.maxTokens ?? Math.min(ctx.defaultMaxTokens ?? DEFAULT_MAX_TOKENS, ctx.maxNewTokens);
  check(isInt(maxTokens) && maxTokens >= 1, 'maxTokens', `must be an integer >= 1, got ${String(maxTokens)}`);
  const temperature = finite(params, 'temperature', 0);
  check(temperature >= 0, 'temperature', `must be >= 0, got ${temperature}`);
  const topK = params.topK ?? 0;
  check(isInt(topK) && topK >= 0 && topK <= INT32_MAX, 'topK', `must be an integer in [0, 2^31) (0 = off), got ${String(topK)}`);
  const topP = finite(params, 'topP', 1);
  check(Math.fround(topP) > 0 && topP <= 1, 'topP', `must be in (0, 1] (and not below float32's smallest), got ${topP}`);
  const minP = finite(params, 'minP', 0);
  check(minP >= 0 && minP <= 1, 'minP', `must be in [0, 1], got ${minP}`);
  const seed = params.seed ?? ctx.defaultSeed;
  check(isInt(seed) && seed >= 0 && seed <= Number.MAX_SAFE_INTEGER, 'seed', `must be an integer in [0, 2^53), got ${String(seed)}`);
  const presencePenalty = finite(params, 'presencePenalty', 0);
  const frequencyPenalty = finite(params, 'frequencyPenalty', 0);
  check(Math.abs(presencePenalty) <= 2, 'presencePenalty', `must be in [-2, 2], got ${presencePenalty}`);
  check(Math.abs(frequencyPenalty) <= 2, 'frequencyPenalty', `must be in [-2, 2], got ${frequencyPenalty}`);
  const repetitionPenalty = finite(params, 'repetitionPenalty', 1);
  check(Math.fround(repetitionPenalty) > 0, 'repetitionPenalty', `must be > 0 (and not below float32's smallest), got ${repetitionPenalty}`);
  const stop = params.stop ?? [];
  check(Array.isArray(stop) && stop.every((s) => typeof s === 'string' && s.length > 0), 'stop', 'must be an array of non-empty strings');
  const stopTokenIds = params.stopTokenIds ?? [];
  check(
    Array.isArray(stopTokenIds) && stopTokenIds.every((t) => isInt(t) && t >= 0 && t < ctx.vocabSize),
    'stopTokenIds',
    `must be token ids in [0, ${ctx.vocabSize})`,
  );
  const logprobs = params.logprobs;
  check(logprobs === undefined || (isInt(logprobs) && logprobs >= 0 && logprobs <= MAX_LOGPROBS), 'logprobs', `must be an integer in [0, ${MAX_LOGPROBS}]`);
  check(params.ignoreEos === undefined || typeof params.ignoreEos === 'boolean', 'ignoreEos', 'must be a boolean');
  const logitBias = resolveLogitBias(params.logitBias, ctx.vocabSize);
  return {
    maxTokens,
    temperature,
    topK,
    topP,
    minP,
    seed,
    stop: [...stop],
    stopTokenIds: [...stopTokenIds],
    ignoreEos: params.ignoreEos ?? false,
    presencePenalty,
    frequencyPenalty,
    repetitionPenalty,
    logprobs,
    hasPenalties: presencePenalty !== 0 || frequencyPenalty !== 0 || repetitionPenalty !== 1,
    responseFormat: checkResponseFormat(params.responseFormat),
    logitBias,
    hasStopStrings: stop.length > 0,
    hasStopTokenIds: stopTokenIds.length > 0,
    hasLogitBias: logitBias.length > 0,
  };
}

const MAX_BIAS_ENTRIES = 1024;

function resolveLogitBias(bias: SamplingParams['logitBias'], vocabSize: number): Array<[number, number]> {
  if (bias === undefined) return [];
  check(typeof bias === 'object' && bias !== null && !Array.isArray(bias), 'logitBias', 'must be an object of token id -> bias');
  const entries = Object.entries(bias);
  check(entries.length <= MAX_BIAS_ENTRIES, 'logitBias', `has ${entries.length} entries, at most ${MAX_BIAS_ENTRIES} are allowed`);
  const pairs = entries.map(([key, value]): [number, number] => {
    const id = Number(key);
    check(/^\d+$/.test(key) && id < vocabSize, 'logitBias', `key ${JSON.stringify(key)} is not a token id in [0, ${vocabSize})`);
    check(typeof value === 'number' && Number.isFinite(value) && Math.abs(value) <= 100, 'logitBias', `bias of token ${key} must be a number in [-100, 100], got ${String(value)}`);
    return [id, value];
  });
  return pairs.sort((a, b) => a[0] - b[0]);
}
