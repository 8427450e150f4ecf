#!/usr/bin/env python3
"""Builds the training corpus from the Debian packages bible-kjv-text (the King James
Bible, public domain) and bible-kjv (the `bible` reader that decodes its data file).

    apt-get install -y bible-kjv-text bible-kjv
    python3 tools/train/prepare_corpus.py            # -> tools/train/data/kjv-{train,val}.txt

One chapter per block: a header line ("Genesis 1"), then one verse per line without
its number; blocks are separated by one blank line. Every 50th chapter (index % 50 == 49,
23 of 1189, about 2 %) is held out for validation, so the held-out text is spread over the
whole book rather than being the last, unusual chapters.
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HOLD_OUT_EVERY = 50
VERSE = re.compile(r'^\s+\d+ (.*)$')


def read_bible() -> str:
    # -l1000: no line wrapping, so one verse is one line.
    out = subprocess.run(['bible', '-l1000', 'gen1:1-rev22:21'], check=True,
                         capture_output=True, text=True, encoding='ascii')
    return out.stdout


def parse_chapters(raw: str) -> list[str]:
    chapters: list[list[str]] = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        verse = VERSE.match(line)
        if verse:
            chapters[-1].append(verse.group(1).strip())
        else:
            chapters.append([line.strip()])  # a chapter header, e.g. "Genesis 1"
    return ['\n'.join(lines) for lines in chapters]


def main() -> None:
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, 'data')
    os.makedirs(out_dir, exist_ok=True)
    chapters = parse_chapters(read_bible())
    assert len(chapters) == 1189, f'expected 1189 chapters, got {len(chapters)}'
    train = [c for i, c in enumerate(chapters) if i % HOLD_OUT_EVERY != HOLD_OUT_EVERY - 1]
    val = [c for i, c in enumerate(chapters) if i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1]
    for name, part in (('kjv-train.txt', train), ('kjv-val.txt', val)):
        with open(os.path.join(out_dir, name), 'w', encoding='utf-8') as f:
            f.write('\n\n'.join(part) + '\n')
    print(f'{len(train)} train chapters, {len(val)} held-out chapters -> {out_dir}')


if __name__ == '__main__':
    main()
