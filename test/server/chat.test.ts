/** /v1/chat/completions through the openai client, and the chat template (model's Jinja or the default). */
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { templateMessages } from '../../src/server/chat-messages.js';
import { ChatTemplate, DEFAULT_CHAT_TEMPLATE } from '../../src/server/chat-template.js';
import { HttpError } from '../../src/server/http-errors.js';
import { expectNoLeak, serve, type Served } from './helpers.js';

let s: Served;
beforeAll(async () => {
  s = await serve({}, { modelName: 'nano-tiny' });
});
afterAll(async () => {
  await s.close();
});

type Params = OpenAI.ChatCompletionCreateParamsNonStreaming;
const messages: OpenAI.ChatCompletionMessageParam[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi!' },
];
const chat = (extra: Record<string, unknown> = {}): Params => ({ model: 'nano-tiny', messages, max_tokens: 16, temperature: 0, ...extra }) as Params;

describe('the chat template', () => {
  test('the default renders <|role|>\\ncontent\\n per message, then <|assistant|>\\n', () => {
    const prompt = new ChatTemplate(undefined).render(
      templateMessages([
        { role: 'system', content: 'S' },
        { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
      ]),
    );
    expect(prompt).toBe('<|system|>\nS\n<|user|>\nab\n<|assistant|>\n');
    expect(DEFAULT_CHAT_TEMPLATE).toContain('add_generation_prompt');
  });

  test("a model's Jinja template gets bos_token, eos_token and add_generation_prompt", () => {
    const chatml =
      "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}" +
      '{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}';
    const prompt = new ChatTemplate(chatml, { bos: '<s>', eos: '</s>' }).render([{ role: 'user', content: 'Hi' }]);
    expect(prompt).toBe('<s><|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
  });

  test('a template that raises gives a 400 naming messages', () => {
    const strict = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first message must be user') }}{% endif %}x";
    let caught: unknown;
    try {
      new ChatTemplate(strict).render([{ role: 'assistant', content: 'no' }]);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(HttpError);
    expect((caught as HttpError).statusCode).toBe(400);
    expect((caught as HttpError).param).toBe('messages');
  });
});

describe('/v1/chat/completions', () => {
  test('a whole answer: assistant message, usage counts the rendered prompt', async () => {
    const r = await s.client.chat.completions.create(chat({ ignore_eos: true }));
    expect(r.object).toBe('chat.completion');
    expect(r.model).toBe('nano-tiny');
    expect(r.choices[0].message.role).toBe('assistant');
    expect(r.choices[0].finish_reason).toBe('length');
    const rendered = '<|system|>\nBe brief.\n<|user|>\nHi!\n<|assistant|>\n';
    expect(r.usage).toMatchObject({ prompt_tokens: Buffer.byteLength(rendered), completion_tokens: 16, total_tokens: Buffer.byteLength(rendered) + 16 });
    const direct = await s.engine.submit(rendered, { maxTokens: 16, ignoreEos: true }).done;
    expect(r.choices[0].message.content).toBe(direct.text);
  });

  test('streamed: a role chunk first, content deltas, finish chunk, usage chunk', async () => {
    const whole = await s.client.chat.completions.create(chat());
    const stream = await s.client.chat.completions.create({ ...chat(), stream: true, stream_options: { include_usage: true } });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(whole.choices[0].message.content);
    expect(chunks.at(-2)!.choices[0].finish_reason).toBe(whole.choices[0].finish_reason);
    expect(chunks.at(-1)!.usage).toEqual(whole.usage);
  });

  test('max_completion_tokens wins over max_tokens; the engine model name is accepted too', async () => {
    const r = await s.client.chat.completions.create(chat({ model: 'tiny', max_tokens: 30, max_completion_tokens: 5, ignore_eos: true }));
    expect(r.usage?.completion_tokens).toBe(5);
  });

  test('seeded sampling is reproducible; stop strings apply', async () => {
    const sampled = () => s.client.chat.completions.create(chat({ temperature: 1, seed: 1234, max_tokens: 24 }));
    const [a, b] = await Promise.all([sampled(), sampled()]);
    expect(a.choices[0].message.content).toBe(b.choices[0].message.content);
    const full = (await s.client.chat.completions.create(chat({ max_tokens: 30, ignore_eos: true }))).choices[0].message.content!;
    const stop = full.slice(5, 7);
    const r = await s.client.chat.completions.create(chat({ max_tokens: 30, ignore_eos: true, stop }));
    expect(r.choices[0].message.content).toBe(full.slice(0, full.indexOf(stop)));
    expect(r.choices[0].finish_reason).toBe('stop');
  });

  test('logprobs: true with top_logprobs gives one entry per token', async () => {
    const r = await s.client.chat.completions.create(chat({ logprobs: true, top_logprobs: 2, max_tokens: 6, ignore_eos: true }));
    const content = r.choices[0].logprobs!.content!;
    expect(content).toHaveLength(6);
    for (const entry of content) {
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.top_logprobs).toHaveLength(2);
      expect(entry.bytes).toEqual(Array.from(Buffer.from(entry.token)));
    }
    await expectNoLeak(s.engine);
  });
});
