/**
 * How a model writes tool calls, in the three formats chat templates use, and how we read
 * them back (whole, or as a safe prefix while streaming):
 *   hermes   (Hermes, Qwen 2/2.5/3, our default template)  <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>
 *   llama3   (Llama 3.1+ JSON tool calling)                 {"name": ..., "parameters": {...}}
 *   mistral  (Mistral)                                       [TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]
 * Each format also gives the grammar that forces calls (tool_choice required or named).
 */

export type ToolFormatName = 'hermes' | 'llama3' | 'mistral';

export interface ParsedCall {
  name: string;
  /** The arguments as a JSON string (OpenAI's `function.arguments`). */
  arguments: string;
}

export interface ParsedOutput {
  /** Text outside tool calls (null when there is none and there are calls). */
  content: string;
  calls: ParsedCall[];
}

/** While streaming: the content and call arguments that can no longer change, and calls whose name is known. */
export interface PartialOutput {
  content: string;
  calls: ParsedCall[];
}

export interface ToolFormat {
  readonly name: ToolFormatName;
  /** The key of the arguments object inside one call. */
  readonly argumentsKey: 'arguments' | 'parameters';
  /** EBNF around the JSON of one call (rule `root`): the start rule `tool_calls`. */
  callsRule(parallel: boolean): string;
  parse(text: string): ParsedOutput;
  partial(text: string): PartialOutput;
}

/** Picks the format from the chat template's text (a template without tool markup gets hermes, as our default does). */
export function toolFormatFor(template: string | undefined): ToolFormat {
  const source = template ?? '';
  if (source.includes('[TOOL_CALLS]')) return MISTRAL;
  if (source.includes('<tool_call>')) return HERMES;
  if (source.includes('<|python_tag|>') || source.includes('ipython')) return LLAMA3;
  return HERMES;
}

/** A {name, arguments|parameters} object into a call; undefined if it is not one. */
function callOf(value: unknown): ParsedCall | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  const args = v.arguments ?? v.parameters ?? {};
  if (typeof v.name !== 'string' || v.name.length === 0) return undefined;
  return { name: v.name, arguments: typeof args === 'string' ? args : JSON.stringify(args) };
}

/** A call keeping the arguments exactly as written (so streamed fragments add up to them); else re-serialized. */
function rawCallOf(json: string): ParsedCall | undefined {
  const call = callOf(tryJson(json));
  if (!call) return undefined;
  const header = HEADER.exec(json);
  if (!header) return call;
  const raw = stableArguments(json.slice(header[0].length), true);
  return tryJson(raw) === undefined ? call : { name: call.name, arguments: raw };
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The longest suffix of text that is a proper prefix of marker (held back while streaming). */
function heldBack(text: string, marker: string): number {
  for (let n = Math.min(marker.length - 1, text.length); n > 0; n--) if (marker.startsWith(text.slice(text.length - n))) return n;
  return 0;
}

const OPEN = '<tool_call>';
const CLOSE = '</tool_call>';
const HEADER = /^\s*\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"(?:arguments|parameters)"\s*:\s*/;

/** Arguments that can no longer change: up to the last '}' of the body (the call's own closing brace comes last). */
function stableArguments(body: string, isClosed: boolean): string {
  const end = body.lastIndexOf('}');
  if (end < 0) return '';
  const args = body.slice(0, end);
  return isClosed ? args.trimEnd() : args;
}

const HERMES: ToolFormat = {
  name: 'hermes',
  argumentsKey: 'arguments',
  callsRule: (parallel) => {
    const call = `"${OPEN}\\n" root "\\n${CLOSE}"`;
    return `tool_calls ::= ${call}${parallel ? ` ("\\n" ${call})*` : ''}`;
  },
  parse(text) {
    const calls: ParsedCall[] = [];
    const content = text.replace(/<tool_call>\s*([\s\S]*?)\s*<\/tool_call>/g, (whole, json: string) => {
      const call = rawCallOf(json);
      if (!call) return whole;
      calls.push(call);
      return '';
    });
    return { content: calls.length > 0 ? content.trim() : content, calls };
  },
  partial(text) {
    const first = text.indexOf(OPEN);
    if (first < 0) return { content: text.slice(0, text.length - heldBack(text, OPEN)), calls: [] };
    const calls: ParsedCall[] = [];
    for (let at = first; at >= 0; at = text.indexOf(OPEN, at + OPEN.length)) {
      const start = at + OPEN.length;
      const close = text.indexOf(CLOSE, start);
      const body = text.slice(start, close < 0 ? text.length : close);
      const header = HEADER.exec(body);
      if (!header) break;
      calls.push({ name: JSON.parse(`"${header[1]}"`) as string, arguments: stableArguments(body.slice(header[0].length), close >= 0) });
      if (close < 0) break;
    }
    return { content: text.slice(0, first).trimEnd(), calls };
  },
};

const LLAMA3: ToolFormat = {
  name: 'llama3',
  argumentsKey: 'parameters',
  callsRule: () => 'tool_calls ::= root',
  parse(text) {
    const body = text.replace(/^\s*<\|python_tag\|>/, '').trim();
    const call = body.startsWith('{') ? rawCallOf(body) : undefined;
    return call ? { content: '', calls: [call] } : { content: text, calls: [] };
  },
  partial(text) {
    const body = text.replace(/^\s*<\|python_tag\|>/, '');
    const trimmed = body.trimStart();
    if (trimmed.length === 0 || '<|python_tag|>'.startsWith(text.trimStart())) return { content: '', calls: [] };
    if (!trimmed.startsWith('{')) return { content: text, calls: [] };
    const header = HEADER.exec(trimmed);
    return header ? { content: '', calls: [{ name: JSON.parse(`"${header[1]}"`) as string, arguments: stableArguments(trimmed.slice(header[0].length), false) }] } : { content: '', calls: [] };
  },
};

const MISTRAL_PREFIX = '[TOOL_CALLS]';

const MISTRAL: ToolFormat = {
  name: 'mistral',
  argumentsKey: 'arguments',
  callsRule: (parallel) => `tool_calls ::= "${MISTRAL_PREFIX}[" root${parallel ? ' (", " root)*' : ''} "]"`,
  parse(text) {
    const at = text.indexOf(MISTRAL_PREFIX);
    if (at < 0) return { content: text, calls: [] };
    const list = tryJson(text.slice(at + MISTRAL_PREFIX.length).trim());
    const calls = (Array.isArray(list) ? list : [list]).map(callOf);
    if (calls.length === 0 || calls.some((c) => c === undefined)) return { content: text, calls: [] };
    return { content: text.slice(0, at).trim(), calls: calls as ParsedCall[] };
  },
  partial(text) {
    const at = text.indexOf(MISTRAL_PREFIX);
    if (at < 0) return { content: text.slice(0, text.length - heldBack(text, MISTRAL_PREFIX)), calls: [] };
    return { content: text.slice(0, at).trimEnd(), calls: [] }; // calls are sent whole at the end
  },
};
