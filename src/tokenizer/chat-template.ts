/**
 * Renders a conversation with a model's Jinja chat template (@huggingface/jinja), with the
 * variables and helpers transformers' apply_chat_template passes: messages,
 * add_generation_prompt, bos_token, eos_token, tools, documents, and the helpers
 * raise_exception and strftime_now. The text equals apply_chat_template(..., tokenize=False);
 * encode it without adding special tokens (the template writes them itself).
 */
import { Template } from '@huggingface/jinja';

export interface ChatTemplateInput {
  messages: ReadonlyArray<Record<string, unknown>>;
  addGenerationPrompt: boolean;
  /** Function definitions, as OpenAI's tools ({ type: 'function', function: { name, ... } }). */
  tools?: ReadonlyArray<Record<string, unknown>>;
  /** Retrieval documents ({ title, text }). */
  documents?: ReadonlyArray<Record<string, unknown>>;
  bosToken?: string;
  eosToken?: string;
  /** Extra template variables (apply_chat_template's **kwargs, vLLM's chat_template_kwargs); the named ones above win. */
  kwargs?: Readonly<Record<string, unknown>>;
}

/** A parsed template; parsing throws on a template that does not parse. */
export class JinjaChatTemplate {
  private readonly template: Template;

  constructor(readonly source: string) {
    this.template = new Template(source);
  }

  /** Throws the template's own error (raise_exception, an undefined variable used wrongly, ...). */
  render(input: ChatTemplateInput): string {
    const context: Record<string, unknown> = {
      ...input.kwargs,
      messages: input.messages,
      add_generation_prompt: input.addGenerationPrompt,
      bos_token: input.bosToken ?? '',
      eos_token: input.eosToken ?? '',
    };
    // transformers passes tools / documents only when given, so templates can test `if tools`.
    if (input.tools !== undefined) context.tools = input.tools;
    if (input.documents !== undefined) context.documents = input.documents;
    return this.template.render(context);
  }
}
