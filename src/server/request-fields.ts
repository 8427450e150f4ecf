/**
 * Every field a client may send, and what happens to it: honoured, accepted as metadata
 * that changes nothing about generation, or refused by name with a 400. A field this table
 * does not know is refused too (as OpenAI does), so nothing is silently ignored.
 */
import { HttpError } from './http-errors.js';

/** undefined = fine; a string = why this value is refused. */
type Rule = 'honoured' | 'metadata' | ((value: unknown) => string | undefined);

const refused = (why: string): Rule => (value) => (value === undefined || value === null ? undefined : why);
const onlyFalse = (why: string): Rule => (value) => (value === undefined || value === null || value === false ? undefined : why);

const SAMPLING: Record<string, Rule> = {
  model: 'honoured',
  max_tokens: 'honoured',
  temperature: 'honoured',
  top_p: 'honoured',
  seed: 'honoured',
  stop: 'honoured',
  n: 'honoured',
  presence_penalty: 'honoured',
  frequency_penalty: 'honoured',
  logit_bias: 'honoured',
  stream: 'honoured',
  stream_options: 'honoured',
  response_format: 'honoured',
  user: 'metadata',
  // vLLM's extras
  top_k: 'honoured',
  min_p: 'honoured',
  repetition_penalty: 'honoured',
  ignore_eos: 'honoured',
  stop_token_ids: 'honoured',
  priority: 'honoured',
  structured_outputs: 'honoured',
  guided_json: 'honoured',
  guided_regex: 'honoured',
  guided_choice: 'honoured',
  guided_grammar: 'honoured',
  request_id: 'metadata',
  skip_special_tokens: (v) => (v === undefined || v === null || v === true ? undefined : 'only true is supported (special tokens never reach the text)'),
  use_beam_search: onlyFalse('beam search is not supported'),
  min_tokens: (v) => (v === undefined || v === null || v === 0 ? undefined : 'is not supported'),
  include_stop_str_in_output: onlyFalse('is not supported (stop strings never reach the text)'),
  prompt_logprobs: refused('is not supported'),
  length_penalty: (v) => (v === undefined || v === null || v === 1 ? undefined : 'is not supported (no beam search)'),
  truncate_prompt_tokens: refused('is not supported'),
  spaces_between_special_tokens: 'metadata',
};

export const COMPLETION_FIELDS: Record<string, Rule> = {
  ...SAMPLING,
  prompt: 'honoured',
  logprobs: 'honoured',
  echo: 'honoured',
  best_of: (v) => (v === undefined || v === null || v === 1 ? undefined : 'only 1 is supported (use n for several completions)'),
  suffix: refused('is not supported (no fill-in-the-middle)'),
};

export const CHAT_FIELDS: Record<string, Rule> = {
  ...SAMPLING,
  messages: 'honoured',
  max_completion_tokens: 'honoured',
  logprobs: 'honoured',
  top_logprobs: 'honoured',
  tools: 'honoured',
  tool_choice: 'honoured',
  parallel_tool_calls: 'honoured',
  chat_template_kwargs: 'honoured',
  add_generation_prompt: 'honoured',
  metadata: 'metadata',
  store: onlyFalse('store: true is not supported (completions are not kept)'),
  service_tier: (v) => (v === undefined || v === null || v === 'auto' || v === 'default' ? undefined : 'only "auto" and "default" are served'),
  prompt_cache_key: 'metadata',
  safety_identifier: 'metadata',
  modalities: (v) => (v === undefined || v === null || (Array.isArray(v) && v.every((m) => m === 'text')) ? undefined : 'only ["text"] is supported'),
  audio: refused('audio output is not supported'),
  prediction: refused('predicted outputs are not supported'),
  reasoning_effort: refused('is not supported (this model does not reason)'),
  verbosity: refused('is not supported'),
  web_search_options: refused('web search is not supported'),
  functions: refused('the legacy functions parameter is not supported: use tools'),
  function_call: refused('the legacy function_call parameter is not supported: use tool_choice'),
  continue_final_message: onlyFalse('is not supported'),
  echo: onlyFalse('is not supported on chat completions'),
  documents: refused('is not supported'),
  chat_template: refused('a per-request chat template is not supported'),
};

/** Throws a 400 naming the first field that is unknown or refused. */
export function checkFields(body: Record<string, unknown>, rules: Record<string, Rule>): void {
  for (const [key, value] of Object.entries(body)) {
    const rule = Object.hasOwn(rules, key) ? rules[key] : undefined;
    if (rule === undefined) throw new HttpError(400, `${key}: unknown parameter`, 'invalid_request_error', 'unknown_parameter', key);
    if (typeof rule !== 'function') continue;
    const why = rule(value);
    if (why !== undefined) throw new HttpError(400, `${key}: ${why}`, 'invalid_request_error', 'unsupported_parameter', key);
  }
}

/** The table, for the README. */
export function describeFields(rules: Record<string, Rule>): { honoured: string[]; metadata: string[]; conditional: string[] } {
  const honoured = Object.keys(rules).filter((k) => rules[k] === 'honoured');
  const metadata = Object.keys(rules).filter((k) => rules[k] === 'metadata');
  const conditional = Object.keys(rules).filter((k) => typeof rules[k] === 'function');
  return { honoured, metadata, conditional };
}
