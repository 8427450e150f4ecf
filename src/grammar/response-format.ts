/** What a request may constrain its output to, and the checks made at submit (before anything compiles). */
import { InvalidRequestError } from '../errors.js';

export type JsonSchema = Record<string, unknown> | boolean;

export type ResponseFormat =
  /** No constraint (the default). */
  | { type: 'text' }
  /** Any JSON object. */
  | { type: 'json_object' }
  /** JSON that validates against `schema`; `strict` also forbids properties the schema does not name. */
  | { type: 'json_schema'; schema: JsonSchema; strict?: boolean }
  /** Text matching the whole of `pattern` (ECMAScript-style syntax, no lookaround or backreferences). */
  | { type: 'regex'; pattern: string }
  /** Text of an EBNF / GBNF grammar; its start rule is `root` unless `root` names another. */
  | { type: 'grammar'; grammar: string; root?: string };

const PARAM = 'responseFormat';
const MAX_SOURCE = 256 * 1024;

function fail(message: string, param = PARAM): never {
  throw new InvalidRequestError(`${param}: ${message}`, param);
}

/** The format if it constrains anything, undefined for none; throws InvalidRequestError on a malformed one. */
export function checkResponseFormat(format: unknown): ResponseFormat | undefined {
  if (format === undefined) return undefined;
  if (typeof format !== 'object' || format === null || Array.isArray(format)) fail('must be an object with a "type"');
  const f = format as Record<string, unknown>;
  switch (f.type) {
    case 'text':
      return undefined;
    case 'json_object':
      return { type: 'json_object' };
    case 'json_schema': {
      const schema = f.schema;
      if (typeof schema !== 'boolean' && (typeof schema !== 'object' || schema === null || Array.isArray(schema))) fail('must be a JSON Schema (an object or a boolean)', `${PARAM}.schema`);
      if (JSON.stringify(schema).length > MAX_SOURCE) fail(`is longer than ${MAX_SOURCE} characters`, `${PARAM}.schema`);
      if (f.strict !== undefined && typeof f.strict !== 'boolean') fail('must be a boolean', `${PARAM}.strict`);
      return { type: 'json_schema', schema: schema as JsonSchema, strict: f.strict as boolean | undefined };
    }
    case 'regex':
      return { type: 'regex', pattern: checkSource(f.pattern, 'pattern') };
    case 'grammar': {
      if (f.root !== undefined && (typeof f.root !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(f.root))) fail('must be a rule name', `${PARAM}.root`);
      return { type: 'grammar', grammar: checkSource(f.grammar, 'grammar'), root: f.root as string | undefined };
    }
    default:
      return fail(`type must be one of "text", "json_object", "json_schema", "regex", "grammar"; got ${JSON.stringify(f.type)}`, `${PARAM}.type`);
  }
}

function checkSource(value: unknown, name: string): string {
  const param = `${PARAM}.${name}`;
  if (typeof value !== 'string' || value.length === 0) fail('must be a non-empty string', param);
  if (value.length > MAX_SOURCE) fail(`is longer than ${MAX_SOURCE} characters`, param);
  return value;
}

/** One key per distinct constraint, for the compile cache. */
export function formatKey(format: ResponseFormat): string {
  return JSON.stringify(format);
}
