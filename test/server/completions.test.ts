/** /v1/completions through the official openai client: whole and streamed, usage, seeds, stop strings, logprobs. */
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { expectNoLeak, serve, type Served } from './helpers.js';

let s: Served;
beforeAll(async () => {
  s = await serve();
});
afterAll(async () => {
  await s.close();
});

type Params = OpenAI.CompletionCreateParamsNonStreaming;
const greedy = (prompt: string | number[], extra: Record<string, unknown> = {}): Params =>
  ({ model: 'tiny', prompt, max_tokens: 24, temperature: 0, ...extra }) as Params;

async function streamText(params: object): Promise<{ text: string; chunks: OpenAI.Completion[] }> {
  const stream = await s.client.completions.create({ ...(params as unknown as Params), stream: true });
  const chunks: OpenAI.Completion[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return { text: chunks.map((c) => c.choices[0]?.text ?? '').join(''), chunks };
}

describe('/v1/completions', () => {
  test('a whole completion with usage', async () => {
    const r = await s.client.completions.create(greedy('Hello, world', { ignore_eos: true }));
    expect(r.object).toBe('text_completion');
    expect(r.model).toBe('tiny');
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0].finish_reason).toBe('length');
    expect(r.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 24, total_tokens: 36 });
    expect(r.usage?.prompt_tokens_details?.cached_tokens).toBe(0);
    const direct = await s.engine.submit('Hello, world', { maxTokens: 24, ignoreEos: true }).done;
    expect(r.choices[0].text).toBe(direct.text); // temperature 0 is greedy: the same text as the engine's
  });

  test('streamed text equals the whole text; include_usage adds a final usage chunk', async () => {
    const whole = await s.client.completions.create(greedy('Stream me', { ignore_eos: true }));
    const { text, chunks } = await streamText({ ...greedy('Stream me', { ignore_eos: true }), stream_options: { include_usage: true } });
    expect(text).toBe(whole.choices[0].text);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 24, total_tokens: 33 });
    expect(chunks.at(-2)!.choices[0].finish_reason).toBe('length');
    expect(chunks.slice(0, -2).every((c) => c.choices[0].finish_reason === null && c.usage === null)).toBe(true);
  });

  test('without include_usage the stream carries no usage', async () => {
    const { chunks } = await streamText(greedy('No usage'));
    expect(chunks.every((c) => c.usage === undefined)).toBe(true);
    expect(chunks.at(-1)!.choices[0].finish_reason).not.toBeNull();
  });

  test('a seed reproduces a sampled completion; other seeds differ', async () => {
    const sampled = (seed: number) => s.client.completions.create(greedy('Once upon a time', { temperature: 1, top_p: 0.95, seed, max_tokens: 32 }));
    const [a, b] = await Promise.all([sampled(42), sampled(42)]);
    expect(a.choices[0].text).toBe(b.choices[0].text);
    const others = await Promise.all([1, 2, 3].map(sampled));
    expect(others.some((o) => o.choices[0].text !== a.choices[0].text)).toBe(true);
  });

  test('a stop string ends the text before it, finish_reason stop, whole and streamed', async () => {
    const full = (await s.client.completions.create(greedy('The stop test', { ignore_eos: true, max_tokens: 40 }))).choices[0].text;
    const stop = full.slice(10, 12);
    const expected = full.slice(0, full.indexOf(stop));
    const r = await s.client.completions.create(greedy('The stop test', { ignore_eos: true, max_tokens: 40, stop: [stop, 'never-seen'] }));
    expect(r.choices[0].text).toBe(expected);
    expect(r.choices[0].finish_reason).toBe('stop');
    const streamed = await streamText(greedy('The stop test', { ignore_eos: true, max_tokens: 40, stop }));
    expect(streamed.text).toBe(expected);
    expect(streamed.chunks.at(-1)!.choices[0].finish_reason).toBe('stop');
  });

  test('a prompt of token ids; logprobs with top alternatives', async () => {
    const ids = Array.from(Buffer.from('token ids'));
    const r = await s.client.completions.create(greedy(ids, { logprobs: 3, max_tokens: 8 }));
    expect(r.usage?.prompt_tokens).toBe(ids.length);
    const lp = r.choices[0].logprobs!;
    expect(lp.tokens).toHaveLength(r.usage!.completion_tokens);
    expect(lp.token_logprobs!.every((x) => x <= 0)).toBe(true);
    expect(lp.top_logprobs!.every((top) => Object.keys(top).length >= 1 && Object.keys(top).length <= 3)).toBe(true);
    expect(lp.text_offset![0]).toBe(0);
    const text = await s.client.completions.create(greedy('token ids', { max_tokens: 8 }));
    expect(text.choices[0].text).toBe(r.choices[0].text);
  });

  test('a repeated long prompt reports its cached tokens', async () => {
    const prompt = 'A shared system prompt that is long enough to fill a few KV pages. '.repeat(2);
    await s.client.completions.create(greedy(prompt, { max_tokens: 4 }));
    const second = await s.client.completions.create(greedy(prompt, { max_tokens: 4 }));
    const cached = second.usage?.prompt_tokens_details?.cached_tokens ?? 0;
    expect(cached).toBeGreaterThanOrEqual(16 * Math.floor((Buffer.byteLength(prompt) - 1) / 16) - 16);
    expect(cached % 16).toBe(0);
  });

  test('vLLM extras are accepted (top_k, min_p, repetition_penalty, penalties) and the pool ends clean', async () => {
    const r = await s.client.completions.create(
      greedy('Extras', { temperature: 0.8, top_k: 20, min_p: 0.05, repetition_penalty: 1.2, presence_penalty: 0.5, frequency_penalty: 0.5, seed: 7 }),
    );
    expect(r.choices[0].text.length).toBeGreaterThan(0);
    await expectNoLeak(s.engine);
  });

  test('a list of prompts is one batch: choices i*n..i*n+n-1 belong to prompt i, each as if sent alone', async () => {
    const prompts = ['Alpha', 'Beta'];
    const r = await s.client.completions.create({ model: 'tiny', prompt: prompts as never, n: 2, max_tokens: 6, temperature: 0 });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    for (let i = 0; i < prompts.length; i++) {
      const alone = await s.client.completions.create(greedy(prompts[i] as never, { max_tokens: 6 }));
      expect(r.choices[2 * i].text).toBe(alone.choices[0].text);
      expect(r.choices[2 * i + 1].text).toBe(alone.choices[0].text); // greedy copies agree
    }
    expect(r.usage!.completion_tokens).toBe(24);
    const ids = await s.client.completions.create({ model: 'tiny', prompt: [[65, 66], [67]] as never, max_tokens: 3, temperature: 0 });
    expect(ids.choices).toHaveLength(2);
    const mixed = s.client.completions.create({ model: 'tiny', prompt: ['a', [66]] as never, max_tokens: 3 });
    await expect(mixed).rejects.toMatchObject({ status: 400, param: 'prompt', message: expect.stringContaining('a list of either') });
    const streamed = await streamText({ model: 'tiny', prompt: ['Alpha', 'Beta'], max_tokens: 4, temperature: 0 });
    const byIndex = [0, 1].map((i) => streamed.chunks.filter((c) => c.choices[0]?.index === i).map((c) => c.choices[0].text).join(''));
    expect(byIndex).toEqual([r.choices[0].text.slice(0, byIndex[0].length), r.choices[2].text.slice(0, byIndex[1].length)]);
    expect(streamed.chunks.filter((c) => c.choices[0]?.finish_reason).length).toBe(2);
  });

  test('echo puts the prompt before the completion, whole and streamed', async () => {
    const plain = await s.client.completions.create(greedy('Echo me', { max_tokens: 5 }));
    const echoed = await s.client.completions.create(greedy('Echo me', { max_tokens: 5, echo: true }));
    expect(echoed.choices[0].text).toBe('Echo me' + plain.choices[0].text);
    expect((await streamText(greedy('Echo me', { max_tokens: 5, echo: true }))).text).toBe(echoed.choices[0].text);
    await expectNoLeak(s.engine);
  });
});
