#!/usr/bin/env python3
"""Byte-level BPE (GPT-2 style): training, encoding, and the Hugging Face tokenizer.json.

    python3 tools/train/bpe.py train tools/train/data/kjv-train.txt 1024 src/models/default/tokenizer.json
    python3 tools/train/bpe.py encode src/models/default/tokenizer.json tools/train/data   # -> {train,val}.u16

Text is split into pre-tokens with GPT-2's pattern, each pre-token's UTF-8 bytes are
mapped to printable characters (bytes_to_unicode), and merges are learned over the
pre-token counts. Ids: 0..255 the single bytes (id = byte value), then one id per merge
in the order learned, then <|endoftext|> last.
"""
import collections
import json
import os
import sys

import regex

PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
PRETOKEN = regex.compile(PATTERN)
EOT = '<|endoftext|>'


def bytes_to_unicode() -> dict[int, str]:
    """Printable bytes stand for themselves; the others take code points 256, 257, ... in byte order."""
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {}
    extra = 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_CHAR = bytes_to_unicode()


def to_symbols(piece: str) -> str:
    return ''.join(BYTE_CHAR[b] for b in piece.encode('utf-8'))


def train(text: str, vocab_size: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    counts = collections.Counter(to_symbols(p) for p in PRETOKEN.findall(text))
    words = [list(w) for w in counts]
    freqs = list(counts.values())
    pairs: collections.Counter = collections.Counter()
    where: dict[tuple[str, str], set[int]] = collections.defaultdict(set)
    for i, w in enumerate(words):
        for pair in zip(w, w[1:]):
            pairs[pair] += freqs[i]
            where[pair].add(i)
    vocab = {BYTE_CHAR[b]: b for b in range(256)}
    merges: list[tuple[str, str]] = []
    while len(vocab) < vocab_size - 1 and pairs:
        # Most frequent pair; ties go to the smallest pair, so training is deterministic.
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < 2:
            break
        merged = best[0] + best[1]
        merges.append(best)
        vocab[merged] = len(vocab)
        for i in list(where[best]):
            w, f = words[i], freqs[i]
            for pair in zip(w, w[1:]):
                pairs[pair] -= f
                if pairs[pair] <= 0:
                    del pairs[pair]
            words[i] = w = merge_word(w, best, merged)
            for pair in zip(w, w[1:]):
                pairs[pair] += f
                where[pair].add(i)
        del where[best]
    vocab[EOT] = len(vocab)
    return vocab, merges


def merge_word(w: list[str], pair: tuple[str, str], merged: str) -> list[str]:
    out, i = [], 0
    while i < len(w):
        if i + 1 < len(w) and w[i] == pair[0] and w[i + 1] == pair[1]:
            out.append(merged)
            i += 2
        else:
            out.append(w[i])
            i += 1
    return out


class Encoder:
    def __init__(self, tokenizer_json: dict):
        model = tokenizer_json['model']
        self.vocab: dict[str, int] = model['vocab']
        merges = [tuple(m.split(' ')) if isinstance(m, str) else tuple(m) for m in model['merges']]
        self.ranks = {m: r for r, m in enumerate(merges)}
        self.special = {t['content']: t['id'] for t in tokenizer_json['added_tokens']}
        self.cache: dict[str, list[int]] = {}

    def encode_word(self, symbols: str) -> list[int]:
        if symbols in self.cache:
            return self.cache[symbols]
        w = list(symbols)
        while len(w) > 1:
            best = min(zip(w, w[1:]), key=lambda p: self.ranks.get(p, 1 << 30))
            if best not in self.ranks:
                break
            w = merge_word(w, best, best[0] + best[1])
        ids = [self.vocab[s] for s in w]
        self.cache[symbols] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for part in regex.split('(' + '|'.join(regex.escape(s) for s in self.special) + ')', text):
            if part in self.special:
                ids.append(self.special[part])
                continue
            for piece in PRETOKEN.findall(part):
                ids.extend(self.encode_word(to_symbols(piece)))
        return ids


def tokenizer_json(vocab: dict[str, int], merges: list[tuple[str, str]]) -> dict:
    byte_level = {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': True}
    return {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': [{'id': vocab[EOT], 'content': EOT, 'single_word': False, 'lstrip': False,
                          'rstrip': False, 'normalized': False, 'special': True}],
        'normalizer': None,
        'pre_tokenizer': byte_level,
        'post_processor': {**byte_level, 'trim_offsets': False},
        'decoder': byte_level,
        'model': {'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': None,
                  'end_of_word_suffix': None, 'fuse_unk': False, 'byte_fallback': False,
                  'ignore_merges': False, 'vocab': vocab, 'merges': [f'{a} {b}' for a, b in merges]},
    }


def encode_corpus(tok_path: str, data_dir: str) -> None:
    """Chapters (blank-line separated) are joined with <|endoftext|> into one uint16 stream."""
    import numpy as np
    with open(tok_path, encoding='utf-8') as f:
        enc = Encoder(json.load(f))
    for split in ('train', 'val'):
        with open(os.path.join(data_dir, f'kjv-{split}.txt'), encoding='utf-8') as f:
            chapters = f.read().strip('\n').split('\n\n')
        ids: list[int] = []
        for chapter in chapters:
            ids.append(enc.special[EOT])
            ids.extend(enc.encode(chapter + '\n'))
        np.asarray(ids, dtype=np.uint16).tofile(os.path.join(data_dir, f'{split}.u16'))
        text_bytes = sum(len(c.encode()) + 1 for c in chapters)
        print(f'{split}: {len(ids)} tokens, {text_bytes / len(ids):.2f} bytes/token')


def main() -> None:
    cmd = sys.argv[1]
    if cmd == 'train':
        src, size, dst = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        with open(src, encoding='utf-8') as f:
            vocab, merges = train(f.read(), size)
        with open(dst, 'w', encoding='utf-8') as f:
            json.dump(tokenizer_json(vocab, merges), f, ensure_ascii=False, indent=1)
        print(f'{len(vocab)} tokens, {len(merges)} merges -> {dst}')
    elif cmd == 'encode':
        encode_corpus(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f'unknown command {cmd}')


if __name__ == '__main__':
    main()
