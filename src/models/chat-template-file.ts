/**
 * Where a Hugging Face model folder keeps its chat template, in the order transformers reads
 * them: chat_template.jinja (what transformers 5 writes), then tokenizer_config.json's
 * `chat_template` (a string, or a list of { name, template }), then chat_template.json
 * ({ "chat_template": ... }, as some repos ship). Named templates are returned whole; the
 * renderer picks 'tool_use' when tools are passed and it exists, else 'default'.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelLoadError } from '../errors.js';

export interface ChatTemplates {
  /** The template used when no other applies. */
  default?: string;
  /** Every named template (tokenizer_config.json lists, additional_chat_templates/*.jinja). */
  named: Record<string, string>;
}

type Json = Record<string, unknown>;

export async function readChatTemplates(dir: string, tokenizerConfig: Json): Promise<ChatTemplates> {
  const named: Record<string, string> = {};
  const extraDir = join(dir, 'additional_chat_templates');
  if (existsSync(extraDir)) {
    for (const file of await readdir(extraDir)) {
      if (file.endsWith('.jinja')) named[file.slice(0, -'.jinja'.length)] = await readFile(join(extraDir, file), 'utf8');
    }
  }
  const jinja = join(dir, 'chat_template.jinja');
  if (existsSync(jinja)) return withDefault(await readFile(jinja, 'utf8'), named);
  const fromConfig = templatesOf(tokenizerConfig.chat_template, join(dir, 'tokenizer_config.json'));
  if (fromConfig) return { default: fromConfig.default ?? named.default, named: { ...named, ...fromConfig.named } };
  const jsonFile = join(dir, 'chat_template.json');
  if (existsSync(jsonFile)) {
    let json: Json;
    try {
      json = JSON.parse(await readFile(jsonFile, 'utf8')) as Json;
    } catch (err) {
      throw new ModelLoadError(`${jsonFile}: corrupt JSON (${(err as Error).message})`, jsonFile, { cause: err });
    }
    const fromJson = templatesOf(json?.chat_template, jsonFile);
    if (!fromJson) throw new ModelLoadError(`${jsonFile}: chat_template must be a string or a list of { name, template }`, jsonFile);
    return { default: fromJson.default, named: { ...named, ...fromJson.named } };
  }
  return { default: named.default, named };
}

/** The template a conversation is rendered with. */
export function pickTemplate(templates: ChatTemplates, hasTools: boolean): string | undefined {
  if (hasTools && templates.named.tool_use !== undefined) return templates.named.tool_use;
  return templates.default;
}

function withDefault(text: string, named: Record<string, string>): ChatTemplates {
  return { default: text, named: { ...named, default: text } };
}

function templatesOf(value: unknown, file: string): ChatTemplates | undefined {
  if (value == null) return undefined;
  if (typeof value === 'string') return { default: value, named: { default: value } };
  if (!Array.isArray(value)) throw new ModelLoadError(`${file}: chat_template must be a string or a list of { name, template }`, file);
  const named: Record<string, string> = {};
  for (const entry of value) {
    const { name, template } = (entry ?? {}) as { name?: unknown; template?: unknown };
    if (typeof name !== 'string' || typeof template !== 'string') throw new ModelLoadError(`${file}: chat_template entries must be { name, template } strings`, file);
    named[name] = template;
  }
  return { default: named.default, named };
}
