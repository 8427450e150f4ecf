/**
 * GPT-2's byte-to-character table: every byte gets a printable character, so BPE can
 * work on text. Printable bytes stand for themselves; the others take code points
 * 256, 257, ... in byte order (space 0x20 becomes 'Ġ', newline 0x0a becomes 'Ċ').
 */
function isPrintable(b: number): boolean {
  return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

/** BYTE_TO_CHAR[b] is the character that stands for byte b. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const table: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) table.push(String.fromCharCode(isPrintable(b) ? b : 256 + extra++));
  return table;
})();

/** The inverse: a character's code unit to its byte, or -1 for a character outside the table. */
const CHAR_TO_BYTE: Int16Array = (() => {
  const table = new Int16Array(512).fill(-1);
  BYTE_TO_CHAR.forEach((ch, b) => (table[ch.charCodeAt(0)] = b));
  return table;
})();

const utf8 = new TextEncoder();

/** UTF-8 bytes of `text`, each as its table character. */
export function textToSymbols(text: string): string {
  let out = '';
  for (const b of utf8.encode(text)) out += BYTE_TO_CHAR[b];
  return out;
}

/** The bytes a byte-level token string stands for; null if it holds a character outside the table. */
export function symbolsToBytes(symbols: string): Uint8Array | null {
  const out = new Uint8Array(symbols.length);
  for (let i = 0; i < symbols.length; i++) {
    const code = symbols.charCodeAt(i);
    const b = code < 512 ? CHAR_TO_BYTE[code] : -1;
    if (b < 0) return null;
    out[i] = b;
  }
  return out;
}
