/**
 * The server formats chats with the model folder's own template (here chat_template.jinja of
 * a Llama 3 style tokenizer, as transformers 5 writes it) and encodes the rendered text
 * without adding special tokens: the prompt is transformers' apply_chat_template text, with
 * one BOS (the template's), and completions still get the post-processor's BOS.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, serve, type Served } from './helpers.js';

const model = join(import.meta.dirname, '..', 'models', 'fixtures', 'hf', 'models', 'llama-v5-llama3');
const expected = JSON.parse(readFileSync(join(model, '..', '..', 'tokenizers', 'llama3', 'expected.json'), 'utf8')) as {
  chat: Array<{ name: string; add_generation_prompt: boolean; messages: Array<{ role: string; content: string }>; text?: string }>;
};

let served: Served;
beforeAll(async () => {
  served = await serve({ model, kvCachePages: 32 });
});
afterAll(async () => served.close());

describe('chat completions with a Hugging Face model folder', () => {
  it('prompts with the text transformers renders, one BOS', async () => {
    const hf = expected.chat.find((c) => c.name === 'multi-turn' && c.add_generation_prompt)!;
    const { status, json } = await postJson(`${served.url}/v1/chat/completions`, { messages: hf.messages, max_tokens: 1, temperature: 0 });
    expect(status).toBe(200);
    const ids = served.engine.encode(hf.text!, { addSpecialTokens: false });
    expect(ids.filter((id) => id === served.engine.encode('<|begin_of_text|>', { addSpecialTokens: false })[0])).toHaveLength(1);
    expect(json.usage.prompt_tokens).toBe(ids.length);
  });

  it('the template refuses roles out of turn (raise_exception): 400 naming the reason', async () => {
    const bad = expected.chat.find((c) => c.name === 'bad-roles')!;
    const { status, json } = await postJson(`${served.url}/v1/chat/completions`, { messages: bad.messages, max_tokens: 1 });
    expect(status).toBe(400);
    expect(json.error.message).toMatch(/Conversation roles must alternate/);
  });

  it('completions get the post-processor BOS', async () => {
    const { json } = await postJson(`${served.url}/v1/completions`, { prompt: 'Hello world', max_tokens: 1, temperature: 0 });
    expect(json.usage.prompt_tokens).toBe(served.engine.encode('Hello world', { addSpecialTokens: false }).length + 1);
  });
});
