"""Regenerate the test fixtures from the shared corpus (see README.md in this folder).

Run from the repository root: ``python tests/data/make_fixtures.py [path/to/shared/corpus]``.
Every fixture is a prefix of a corpus file cut at a line boundary, except ``ties.txt``, which lists
distinct King James Bible words once each (so most pair counts are tied).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "shared" / "corpus"

# fixture name -> (corpus file, approximate size in bytes)
PREFIXES = {
    "en_kjv.txt": ("en.txt", 60_000),
    "code_python.txt": ("code/python.txt", 40_000),
    "code_rust.txt": ("code/rust.txt", 20_000),
    "zh.txt": ("langs/zh.txt", 30_000),
    "ja.txt": ("langs/ja.txt", 30_000),
}


def prefix_at_line(data: bytes, size: int) -> bytes:
    """The longest prefix of at most ``size`` bytes that ends with a newline."""
    return data[: data.rindex(b"\n", 0, size) + 1]


def distinct_words(data: bytes, size: int) -> bytes:
    """Distinct King James Bible words (first-seen order), one per line, ~``size`` bytes."""
    seen: dict[str, None] = {}
    total = 0
    # Start after Genesis so the words differ from en_kjv.txt; stay inside the KJV region (~4 MB).
    for word in re.findall(r"[A-Za-z]+", data[1_000_000:4_000_000].decode()):
        if word not in seen:
            seen[word] = None
            total += len(word) + 1
            if total >= size:
                break
    return "".join(w + "\n" for w in seen).encode()


def main() -> None:
    for name, (src, size) in PREFIXES.items():
        (HERE / name).write_bytes(prefix_at_line((CORPUS / src).read_bytes(), size))
    (HERE / "ties.txt").write_bytes(distinct_words((CORPUS / "en.txt").read_bytes(), 5_000))


if __name__ == "__main__":
    main()
