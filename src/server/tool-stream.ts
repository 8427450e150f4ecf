/**
 * Streams a chat answer that may hold tool calls as OpenAI does: content deltas for text,
 * and for each call a first delta `{ index, id, type: 'function', function: { name, arguments: '' } }`
 * followed by `{ index, function: { arguments: fragment } }` deltas. Only what can no longer
 * change is sent (a possible start of `<tool_call>` is held back), so the fragments add up to
 * the final arguments.
 */
import { randomUUID } from 'node:crypto';
import type { ParsedCall, ParsedOutput, ToolFormat } from './tool-format.js';

export type ChatDelta = { content: string } | { tool_calls: ToolCallDelta[] };

export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function: { name?: string; arguments: string };
}

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export function newCallId(): string {
  return `call_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
}

export function toolCallsOf(calls: readonly ParsedCall[], ids: readonly string[] = []): ToolCall[] {
  return calls.map((call, i) => ({ id: ids[i] ?? newCallId(), type: 'function', function: { name: call.name, arguments: call.arguments } }));
}

export class ToolCallStream {
  private text = '';
  private sentContent = 0;
  private readonly sentArgs: number[] = [];
  readonly ids: string[] = [];

  constructor(private readonly format: ToolFormat) {}

  /** Deltas for a new piece of text. */
  push(piece: string): ChatDelta[] {
    this.text += piece;
    const partial = this.format.partial(this.text);
    return [...this.contentDelta(partial.content), ...this.callDeltas(partial.calls)];
  }

  /** The last deltas and the whole parsed answer. */
  finish(): { deltas: ChatDelta[]; parsed: ParsedOutput } {
    const parsed = this.format.parse(this.text);
    if (parsed.calls.length === 0) return { deltas: this.contentDelta(this.text), parsed };
    return { deltas: [...this.contentDelta(parsed.content), ...this.callDeltas(parsed.calls)], parsed };
  }

  private contentDelta(content: string): ChatDelta[] {
    if (content.length <= this.sentContent) return [];
    const delta = content.slice(this.sentContent);
    this.sentContent = content.length;
    return [{ content: delta }];
  }

  private callDeltas(calls: readonly ParsedCall[]): ChatDelta[] {
    const deltas: ToolCallDelta[] = [];
    calls.forEach((call, index) => {
      if (index >= this.ids.length) {
        this.ids.push(newCallId());
        this.sentArgs.push(0);
        deltas.push({ index, id: this.ids[index], type: 'function', function: { name: call.name, arguments: '' } });
      }
      if (call.arguments.length > this.sentArgs[index]) {
        deltas.push({ index, function: { arguments: call.arguments.slice(this.sentArgs[index]) } });
        this.sentArgs[index] = call.arguments.length;
      }
    });
    return deltas.map((delta) => ({ tool_calls: [delta] })); // one call fragment per chunk, as OpenAI sends them
  }
}
