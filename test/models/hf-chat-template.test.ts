/**
 * Chat templates from all three places a model folder keeps them (chat_template.jinja,
 * tokenizer_config.json as a string or a list of named templates, chat_template.json),
 * rendered as transformers 5.17's apply_chat_template(..., tokenize=False) renders them, on
 * the fixtures of tools/hf-fixtures/make.py: system prompts, multi-turn, tools (tojson),
 * documents, strftime_now, and raise_exception for roles out of turn.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pickTemplate, readChatTemplates } from '../../src/models/chat-template-file.js';
import { JinjaChatTemplate } from '../../src/tokenizer/chat-template.js';

const root = join(import.meta.dirname, 'fixtures', 'hf', 'tokenizers');

interface Entry {
  name: string;
  messages: Array<Record<string, unknown>>;
  add_generation_prompt: boolean;
  tools?: Array<Record<string, unknown>>;
  documents?: Array<Record<string, unknown>>;
  text?: string;
  error?: string;
}

describe('chat templates render as transformers renders them', () => {
  for (const name of readdirSync(root).sort()) {
    const dir = join(root, name);
    const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { chat: Entry[]; special: { bos: string; eos: string } };
    it(name, async () => {
      const tokenizerConfig = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
      const templates = await readChatTemplates(dir, tokenizerConfig);
      for (const entry of expected.chat) {
        const label = `${entry.name} add_generation_prompt=${entry.add_generation_prompt}`;
        const source = pickTemplate(templates, entry.tools !== undefined);
        expect(source, label).toBeDefined();
        const template = new JinjaChatTemplate(source!);
        const render = (): string => template.render({
          messages: entry.messages, addGenerationPrompt: entry.add_generation_prompt, tools: entry.tools,
          documents: entry.documents, bosToken: expected.special.bos, eosToken: expected.special.eos,
        });
        if (entry.error !== undefined) {
          expect(render, label).toThrow(entry.error.replace(/^\w+: /, ''));
        } else {
          expect(render(), label).toBe(entry.text);
        }
      }
    });
  }
});
