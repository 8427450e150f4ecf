/**
 * The structured-output fields of a request -> the engine's responseFormat:
 *   OpenAI's response_format: text | json_object | json_schema (+ strict), and regex / grammar
 *   vLLM's structured_outputs { json | regex | choice | grammar } and its older guided_* fields.
 * At most one of them may constrain a request; two are refused by name.
 */
import type { JsonSchema, ResponseFormat } from '../grammar/response-format.js';
import { HttpError } from './http-errors.js';
import type { SamplingBody } from './schemas.js';

const bad = (message: string, param: string): HttpError => new HttpError(400, message, 'invalid_request_error', 'invalid_value', param);

/** A regex matching exactly one of the choices. */
function choiceRegex(choices: unknown, param: string): string {
  if (!Array.isArray(choices) || choices.length === 0 || !choices.every((c) => typeof c === 'string' && c.length > 0)) {
    throw bad(`${param}: must be a non-empty list of non-empty strings`, param);
  }
  return (choices as string[]).map((c) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|');
}

function schemaOf(value: unknown, param: string): JsonSchema {
  const schema = typeof value === 'string' ? parseJson(value, param) : value;
  if (typeof schema !== 'boolean' && (typeof schema !== 'object' || schema === null || Array.isArray(schema))) throw bad(`${param}: must be a JSON Schema`, param);
  return schema as JsonSchema;
}

function parseJson(text: string, param: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw bad(`${param}: is not valid JSON`, param);
  }
}

function fromResponseFormat(rf: NonNullable<SamplingBody['response_format']>): ResponseFormat | undefined {
  switch (rf.type) {
    case 'text':
      return undefined;
    case 'json_object':
      return { type: 'json_object' };
    case 'json_schema':
      if (!rf.json_schema) throw bad('response_format.json_schema: required when type is "json_schema"', 'response_format.json_schema');
      return { type: 'json_schema', schema: schemaOf(rf.json_schema.schema, 'response_format.json_schema.schema'), strict: rf.json_schema.strict ?? false };
    default: {
      const extra = rf as unknown as Record<string, unknown>;
      if (rf.type === 'regex') return { type: 'regex', pattern: String(extra.regex ?? extra.pattern ?? '') };
      return { type: 'grammar', grammar: String(extra.grammar ?? '') };
    }
  }
}

function fromStructuredOutputs(so: Record<string, unknown>): ResponseFormat {
  const keys = Object.keys(so).filter((k) => so[k] !== undefined && so[k] !== null);
  const known = ['json', 'regex', 'choice', 'grammar', 'json_object'];
  const unknown = keys.find((k) => !known.includes(k));
  if (unknown) throw bad(`structured_outputs.${unknown}: is not supported (use json, regex, choice or grammar)`, `structured_outputs.${unknown}`);
  if (keys.length !== 1) throw bad('structured_outputs: give exactly one of json, regex, choice, grammar', 'structured_outputs');
  const [key] = keys;
  if (key === 'json') return { type: 'json_schema', schema: schemaOf(so.json, 'structured_outputs.json') };
  if (key === 'json_object') return { type: 'json_object' };
  if (key === 'choice') return { type: 'regex', pattern: choiceRegex(so.choice, 'structured_outputs.choice') };
  return key === 'regex' ? { type: 'regex', pattern: String(so.regex) } : { type: 'grammar', grammar: String(so.grammar) };
}

/** The one constraint a request asks for (undefined: none). */
export function structuredOutput(body: SamplingBody): { format: ResponseFormat; param: string } | undefined {
  const found: Array<{ format: ResponseFormat | undefined; param: string }> = [];
  if (body.response_format) found.push({ format: fromResponseFormat(body.response_format), param: 'response_format' });
  if (body.structured_outputs) found.push({ format: fromStructuredOutputs(body.structured_outputs), param: 'structured_outputs' });
  if (body.guided_json !== undefined && body.guided_json !== null) found.push({ format: { type: 'json_schema', schema: schemaOf(body.guided_json, 'guided_json') }, param: 'guided_json' });
  if (body.guided_regex) found.push({ format: { type: 'regex', pattern: body.guided_regex }, param: 'guided_regex' });
  if (body.guided_choice) found.push({ format: { type: 'regex', pattern: choiceRegex(body.guided_choice, 'guided_choice') }, param: 'guided_choice' });
  if (body.guided_grammar) found.push({ format: { type: 'grammar', grammar: body.guided_grammar }, param: 'guided_grammar' });
  const active = found.filter((f) => f.format !== undefined);
  if (active.length > 1) throw bad(`${active[1].param}: cannot be combined with ${active[0].param}`, active[1].param);
  return active[0] as { format: ResponseFormat; param: string } | undefined;
}
