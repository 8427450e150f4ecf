/**
 * Renders chat messages into one prompt with the model's Jinja chat template
 * (@huggingface/jinja), or, for models without one (the synthetic presets), the default:
 *
 *   <|system|>\nYou are terse.\n<|user|>\nHi\n<|assistant|>\n
 *
 * i.e. "<|role|>\ncontent\n" per message, then "<|assistant|>\n" to ask for the answer.
 * With tools, the default lists them in a system block, one `name(arg, ...): description` line
 * each (short: the default model's context is 512 tokens), writes calls in the Hermes format
 * (<tool_call>{"name": ..., "arguments": ...}</tool_call>), and tool results as <|tool|> turns.
 */
import { JinjaChatTemplate } from '../tokenizer/chat-template.js';
import { HttpError } from './http-errors.js';
import type { TemplateMessage } from './chat-messages.js';
import type { ChatTool } from './tools.js';

export const DEFAULT_CHAT_TEMPLATE =
  '{% if tools %}<|system|>\nYou may call these tools. To call one, answer <tool_call>\n{"name": <name>, "arguments": <arguments object>}\n</tool_call>\n' +
  '<tools>\n{% for tool in tools %}{{ tool.function.name }}(' +
  '{% if tool.function.parameters and tool.function.parameters.properties %}{% for key, value in tool.function.parameters.properties.items() %}{{ key }}{% if not loop.last %}, {% endif %}{% endfor %}{% endif %}' +
  '): {{ tool.function.description or "" }}\n{% endfor %}</tools>\n{% endif %}' +
  '{% for message in messages %}<|{{ message.role }}|>\n' +
  '{% if message.tool_calls %}{% for call in message.tool_calls %}<tool_call>\n{"name": {{ call.function.name | tojson }}, "arguments": {{ call.function.arguments | tojson }}}\n</tool_call>{% endfor %}{% endif %}' +
  '{{ message.content }}\n{% endfor %}' +
  '{% if add_generation_prompt %}<|assistant|>\n{% endif %}';

/** What a request adds to the template's variables. */
export interface RenderOptions {
  tools?: ChatTool[];
  /** Extra template variables (vLLM's chat_template_kwargs, e.g. enable_thinking). */
  kwargs?: Record<string, unknown>;
  addGenerationPrompt?: boolean;
}

export interface ChatTemplateContext {
  bos?: string;
  eos?: string;
}

export class ChatTemplate {
  private readonly template: JinjaChatTemplate;
  /** The model's 'tool_use' template, for requests with tools (transformers' choice). */
  private readonly toolTemplate?: JinjaChatTemplate;

  /** Throws if a template does not parse (the server refuses to start on a broken template). */
  constructor(source: string | undefined, private readonly special: ChatTemplateContext = {}, named: Record<string, string> = {}) {
    this.template = new JinjaChatTemplate(source ?? DEFAULT_CHAT_TEMPLATE);
    if (named.tool_use !== undefined) this.toolTemplate = new JinjaChatTemplate(named.tool_use);
  }

  /** The source of the template that renders requests with tools (tells which tool-call format the model writes). */
  get toolSource(): string | undefined {
    return (this.toolTemplate ?? this.template).source;
  }

  render(messages: readonly TemplateMessage[], options: RenderOptions = {}): string {
    const template = options.tools !== undefined && this.toolTemplate ? this.toolTemplate : this.template;
    try {
      return template.render({
        messages: messages as unknown as ReadonlyArray<Record<string, unknown>>,
        tools: options.tools as unknown as ReadonlyArray<Record<string, unknown>> | undefined,
        bosToken: this.special.bos,
        eosToken: this.special.eos,
        addGenerationPrompt: options.addGenerationPrompt ?? true,
        kwargs: options.kwargs,
      });
    } catch (error) {
      // Templates reject conversations they cannot format (e.g. roles out of turn) with raise_exception.
      const reason = error instanceof Error ? error.message : String(error);
      throw new HttpError(400, `the chat template cannot format these messages: ${reason}`, 'invalid_request_error', 'invalid_value', 'messages');
    }
  }
}
