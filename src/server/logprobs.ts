/** Log-probabilities in the two OpenAI layouts: legacy completions (parallel arrays) and chat (one entry per token). */
import type { TokenLogprob } from '../engine/request-slot.js';
import type { Tokenizer } from '../engine/tokenizer.js';

/** JSON has no -Infinity; like vLLM, report impossible tokens as -9999. */
const FLOOR = -9999;

export class TokenTexts {
  private readonly cache = new Map<number, string>();

  constructor(private readonly tokenizer: Tokenizer) {}

  /** A token's text on its own (a partial UTF-8 character shows as U+FFFD). */
  of(token: number): string {
    let text = this.cache.get(token);
    if (text === undefined) {
      const decoder = this.tokenizer.createDecoder();
      text = decoder.push(token) + decoder.flush();
      if (this.cache.size < 65536) this.cache.set(token, text);
    }
    return text;
  }

  /** The text of a token sequence (a prompt given as ids). */
  decode(tokens: readonly number[]): string {
    const decoder = this.tokenizer.createDecoder();
    let text = '';
    for (const token of tokens) text += decoder.push(token);
    return text + decoder.flush();
  }
}

const clamp = (logprob: number): number => (Number.isFinite(logprob) ? logprob : FLOOR);

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Array<Record<string, number>>;
  text_offset: number[];
}

/** `offset`: where the first entry's text starts in the choice's text (streamed chunks continue it). */
export function completionLogprobs(entries: readonly TokenLogprob[], texts: TokenTexts, offset = 0): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  for (const entry of entries) {
    const text = texts.of(entry.token);
    out.tokens.push(text);
    out.token_logprobs.push(clamp(entry.logprob));
    out.text_offset.push(offset);
    offset += text.length;
    const top: Record<string, number> = {};
    for (const alt of entry.top ?? [{ token: entry.token, logprob: entry.logprob }]) top[texts.of(alt.token)] ??= clamp(alt.logprob);
    out.top_logprobs.push(top);
  }
  return out;
}

export interface ChatTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}

export interface ChatLogprobs {
  content: Array<ChatTokenLogprob & { top_logprobs: ChatTokenLogprob[] }>;
  refusal: null;
}

export function chatLogprobs(entries: readonly TokenLogprob[], texts: TokenTexts): ChatLogprobs {
  const one = (token: number, logprob: number): ChatTokenLogprob => {
    const text = texts.of(token);
    return { token: text, logprob: clamp(logprob), bytes: Array.from(Buffer.from(text, 'utf8')) };
  };
  return {
    content: entries.map((entry) => ({
      ...one(entry.token, entry.logprob),
      top_logprobs: (entry.top ?? []).map((alt) => one(alt.token, alt.logprob)),
    })),
    refusal: null,
  };
}
