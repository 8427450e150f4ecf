/** A JSON Schema as XGrammar EBNF (start rule `root`), compact one-line JSON, for composing larger grammars (tool calls). */
import { InvalidRequestError } from '../errors.js';
import type { JsonSchema } from './response-format.js';
import { callXGrammar, loadXGrammar } from './xgrammar.js';

export async function jsonSchemaToEbnf(schema: JsonSchema, strict: boolean, param: string): Promise<string> {
  const xg = await loadXGrammar();
  try {
    return await callXGrammar(() => xg.Testings._jsonSchemaToEBNF(JSON.stringify(schema), false, -1, [', ', ': '], strict));
  } catch (error) {
    throw new InvalidRequestError(`${param}: cannot be compiled: ${(error as Error).message}`, param);
  }
}
