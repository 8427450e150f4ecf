/**
 * Chat messages as a client sends them (OpenAI shapes) -> what a chat template reads:
 * content parts joined into text (non-text parts refused by name), the `developer` role as
 * `system`, assistant `tool_calls` with their JSON-string arguments parsed into objects
 * (templates serialize them themselves), and `tool` messages carrying their call's id and
 * function name.
 */
import { HttpError } from './http-errors.js';

export interface ClientToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type ContentPart = { type: string; text?: string; [key: string]: unknown };

export interface ClientMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content?: string | ContentPart[] | null;
  name?: string;
  tool_calls?: ClientToolCall[] | null;
  tool_call_id?: string;
}

/** A message as the template sees it (HF conventions). */
export interface TemplateMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  name?: string;
  tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: unknown } }>;
  tool_call_id?: string;
}

const refuse = (message: string, param: string): HttpError => new HttpError(400, message, 'invalid_request_error', 'invalid_value', param);

export function templateMessages(messages: readonly ClientMessage[]): TemplateMessage[] {
  const callNames = new Map<string, string>();
  return messages.map((m, i) => {
    const out: TemplateMessage = { role: m.role === 'developer' ? 'system' : m.role, content: contentText(m.content, i) };
    if (m.name !== undefined) out.name = m.name;
    if (m.tool_calls && m.tool_calls.length > 0) {
      if (m.role !== 'assistant') throw refuse(`messages[${i}].tool_calls: only assistant messages carry tool calls`, `messages[${i}].tool_calls`);
      out.tool_calls = m.tool_calls.map((call, j) => {
        callNames.set(call.id, call.function.name);
        return { id: call.id, type: 'function', function: { name: call.function.name, arguments: parseArguments(call.function.arguments, `messages[${i}].tool_calls[${j}].function.arguments`) } };
      });
    }
    if (m.role === 'tool') {
      if (!m.tool_call_id) throw refuse(`messages[${i}].tool_call_id: a tool message needs the id of the call it answers`, `messages[${i}].tool_call_id`);
      out.tool_call_id = m.tool_call_id;
      const name = m.name ?? callNames.get(m.tool_call_id);
      if (name !== undefined) out.name = name;
    }
    return out;
  });
}

function parseArguments(text: string, param: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw refuse(`${param}: must be a JSON string (the arguments object serialized), got ${JSON.stringify(text.slice(0, 80))}`, param);
  }
}

/** Text parts joined; null content (an assistant turn with tool calls) is empty; other part types are refused by name. */
function contentText(content: ClientMessage['content'], i: number): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((part, j) => {
      if (part.type === 'text' && typeof part.text === 'string') return part.text;
      const param = `messages[${i}].content[${j}].type`;
      if (part.type === 'text') throw refuse(`messages[${i}].content[${j}].text: must be a string`, `messages[${i}].content[${j}].text`);
      if (part.type === 'refusal' && typeof part.refusal === 'string') return part.refusal;
      throw refuse(`${param}: "${part.type}" content is not supported: this model reads text only (image, audio and file parts are refused)`, param);
    })
    .join('');
}
