/**
 * `tools` and `tool_choice` of a chat request: checked, handed to the chat template, and for
 * `required` or a named function turned into a grammar that forces the model's tool-call
 * format (one call, or several when parallel_tool_calls allows). `auto` parses whatever
 * calls the model writes; `none` (or no tools) leaves the answer as text.
 */
import type { ResponseFormat } from '../grammar/response-format.js';
import { jsonSchemaToEbnf } from '../grammar/json-ebnf.js';
import { HttpError } from './http-errors.js';
import type { ToolFormat } from './tool-format.js';

export interface ChatTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null };
}

export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export interface ToolPlan {
  /** What the chat template receives (undefined: no tools). */
  templateTools: ChatTool[] | undefined;
  /** Whether calls are read from the output. */
  parsesCalls: boolean;
  /** The grammar forcing calls (required / named). */
  responseFormat?: ResponseFormat;
}

const bad = (message: string, param: string): HttpError => new HttpError(400, message, 'invalid_request_error', 'invalid_value', param);

export async function planTools(
  tools: ChatTool[] | null | undefined,
  choice: ToolChoice | null | undefined,
  parallel: boolean,
  format: ToolFormat,
): Promise<ToolPlan> {
  const list = tools ?? [];
  if (list.length === 0) {
    if (choice !== undefined && choice !== null && choice !== 'none' && choice !== 'auto') throw bad('tool_choice: requires tools', 'tool_choice');
    return { templateTools: undefined, parsesCalls: false };
  }
  const names = new Set<string>();
  list.forEach((tool, i) => {
    if (names.has(tool.function.name)) throw bad(`tools[${i}].function.name: "${tool.function.name}" is defined twice`, `tools[${i}].function.name`);
    names.add(tool.function.name);
  });
  const mode = choice ?? 'auto';
  if (mode === 'none') return { templateTools: list, parsesCalls: false };
  if (mode === 'auto') return { templateTools: list, parsesCalls: true };
  const forced = mode === 'required' ? list : list.filter((tool) => tool.function.name === mode.function.name);
  if (forced.length === 0) throw bad(`tool_choice: no tool named "${(mode as { function: { name: string } }).function.name}" in tools`, 'tool_choice');
  const grammar = await callGrammar(forced, list, format, parallel && mode === 'required');
  return { templateTools: list, parsesCalls: true, responseFormat: { type: 'grammar', grammar, root: 'tool_calls' } };
}

/** EBNF: the JSON of one call ({"name": <const>, "<arguments key>": <parameters>}) inside the format's call markup. */
async function callGrammar(forced: ChatTool[], all: ChatTool[], format: ToolFormat, parallel: boolean): Promise<string> {
  const schemas = forced.map((tool) => ({
    type: 'object',
    properties: { name: { const: tool.function.name }, [format.argumentsKey]: tool.function.parameters ?? { type: 'object' } },
    required: ['name', format.argumentsKey],
    additionalProperties: false,
  }));
  const strict = forced.every((tool) => tool.function.strict === true);
  const index = all.indexOf(forced[0]);
  const param = forced.length === 1 ? `tools[${index}].function.parameters` : 'tools';
  const json = await jsonSchemaToEbnf(schemas.length === 1 ? schemas[0] : { anyOf: schemas }, strict, param);
  return `${json}\n${format.callsRule(parallel)}\n`;
}
