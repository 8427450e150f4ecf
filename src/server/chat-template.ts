/**
 * Renders chat messages into one prompt with the model's Jinja chat template
 * (@huggingface/jinja), or, for models without one (the synthetic presets), the default:
 *
 *   <|system|>\nYou are terse.\n<|user|>\nHi\n<|assistant|>\n
 *
 * i.e. "<|role|>\ncontent\n" per message, then "<|assistant|>\n" to ask for the answer.
 */
import { JinjaChatTemplate } from '../tokenizer/chat-template.js';
import { HttpError } from './http-errors.js';
import type { ChatMessage } from './schemas.js';

export const DEFAULT_CHAT_TEMPLATE =
  '{% for message in messages %}<|{{ message.role }}|>\n{{ message.content }}\n{% endfor %}' +
  '{% if add_generation_prompt %}<|assistant|>\n{% endif %}';

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

  render(messages: readonly ChatMessage[], options: { tools?: Array<Record<string, unknown>> } = {}): string {
    const plain = messages.map((m) => ({ ...m, content: contentText(m.content) }));
    const template = options.tools !== undefined && this.toolTemplate ? this.toolTemplate : this.template;
    try {
      return template.render({
        messages: plain,
        tools: options.tools,
        bosToken: this.special.bos,
        eosToken: this.special.eos,
        addGenerationPrompt: true,
      });
    } catch (error) {
      // Templates reject conversations they cannot format (e.g. roles out of turn) with raise_exception.
      const reason = error instanceof Error ? error.message : String(error);
      throw new HttpError(400, `the chat template cannot format these messages: ${reason}`, 'invalid_request_error', 'invalid_value', 'messages');
    }
  }
}

/** Text parts joined; a null content (e.g. an assistant turn with tool calls) is empty. */
function contentText(content: ChatMessage['content']): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  return content.map((part) => part.text).join('');
}
