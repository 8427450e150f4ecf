import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TextStream } from '../../src/engine/text-stream.js';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';

const bytes = (s: string) => Array.from(Buffer.from(s, 'utf8'));
function stream(text: string, stops: string[]) {
  const t = new TextStream(new ByteTokenizer(256).createDecoder(), stops);
  const pieces: string[] = [];
  for (const b of bytes(text)) {
    pieces.push(t.push(b));
    if (t.isStopped) break;
  }
  pieces.push(t.finish());
  return { pieces: pieces.filter((p) => p.length > 0), isStopped: t.isStopped };
}

describe('incremental text with stop strings', () => {
  it('never splits a UTF-8 character across pieces', () => {
    const { pieces } = stream('héllo wörld 🙂 ok', []);
    expect(pieces.join('')).toBe('héllo wörld 🙂 ok');
    for (const p of pieces) expect(p).not.toContain('\uFFFD');
  });

  it('a stop string spanning several tokens never reaches the stream', () => {
    const { pieces, isStopped } = stream('Hello\n\nWorld', ['\n\n']);
    expect(isStopped).toBe(true);
    expect(pieces.join('')).toBe('Hello');
  });

  it('text that only starts like a stop string is released once decided', () => {
    const { pieces, isStopped } = stream('a\nb\n\nc', ['\n\n']);
    expect(isStopped).toBe(true);
    expect(pieces.join('')).toBe('a\nb');
    expect(pieces.slice(0, 2)).toEqual(['a', '\nb']); // the lone newline waited for the next byte, then went out
  });

  it('property: streamed text = text before the first stop string to complete (or all of it)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'é', '\n') }), fc.array(fc.string({ unit: fc.constantFrom('a', 'b', '\n', 'é'), minLength: 1, maxLength: 3 }), { maxLength: 3 }), (text, stops) => {
        const { pieces } = stream(text, stops);
        // Generation stops as soon as some stop string is complete; the text ends where it starts.
        let expected = text;
        for (let end = 1; end <= text.length; end++) {
          const seen = text.slice(0, end);
          const cuts = stops.map((s) => seen.indexOf(s)).filter((i) => i >= 0);
          if (cuts.length > 0) {
            expected = seen.slice(0, Math.min(...cuts));
            break;
          }
        }
        expect(pieces.join('')).toBe(expected);
        for (const s of stops) expect(pieces.join('')).not.toContain(s);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('decoding many tokens in one call (the text of tokens nobody streamed, at the end)', () => {
  it('property: pushAll over any split gives the text of push() one by one, with and without stop strings', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 299 }), { maxLength: 40 }), fc.nat(40), fc.constantFrom([], ['\u00e9'], ['ab', 'z']), (tokens, cut, stops) => {
        const one = new TextStream(new ByteTokenizer(300).createDecoder(), stops);
        let oneByOne = '';
        for (const t of tokens) oneByOne += one.push(t);
        oneByOne += one.finish();
        const many = new TextStream(new ByteTokenizer(300).createDecoder(), stops);
        const at = Math.min(cut, tokens.length);
        let batched = '';
        for (const t of tokens.slice(0, at)) batched += many.push(t);
        batched += many.pushAll(tokens.slice(at));
        batched += many.finish();
        expect(batched).toBe(oneByOne);
        expect(many.isStopped).toBe(one.isStopped);
      }),
    );
  });
});
