#!/usr/bin/env python3
"""Token ids of fixed strings under the default tokenizer, computed by bpe.py's encoder:
the fixture the TypeScript tokenizer is tested against.

    python3 tools/train/make_fixtures.py   # -> test/models/fixtures/tokenizer-cases.json
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bpe import Encoder  # noqa: E402

ROOT = os.path.join(HERE, '..', '..')
CASES = [
    '',
    'In the beginning God created the heaven and the earth.',
    '<|endoftext|>Genesis 50\nAnd Joseph fell upon',
    "It's they'll we've I'd you're I'M",
    'Hello, world!  Two  spaces,\ttab,\n\nand blank lines.\n',
    'Numbers: 12345, 3.14159 and 2024-05-09.',
    'naïve café — ünïcödé 日本語 🙂 Ελληνικά',
    'trailing spaces   ',
    'a<|endoftext|>b<|endoftext|><|endoftext|>',
    'zzzqqqxxjjj!!!???',
]


def main() -> None:
    with open(os.path.join(ROOT, 'src/models/default/tokenizer.json'), encoding='utf-8') as f:
        enc = Encoder(json.load(f))
    cases = [{'text': t, 'ids': enc.encode(t)} for t in CASES]
    out = os.path.join(ROOT, 'test/models/fixtures/tokenizer-cases.json')
    with open(out, 'w', encoding='utf-8') as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
        f.write('\n')
    print(f'{len(cases)} cases -> {out}')


if __name__ == '__main__':
    main()
