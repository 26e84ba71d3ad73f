"""Helpers shared by the test modules: fixture paths, and comparisons with readable failures."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
REPO = TESTS.parent
SHARED_CORPUS = REPO.parent / "shared" / "corpus"

# Real-text fixtures (see tests/data/README.md), by name without ".txt".
FIXTURES = ("en_kjv", "code_python", "code_rust", "zh", "ja", "ties")
PATTERNS = ("gpt2", "cl100k", "o200k")
EOT = "<|endoftext|>"


def released(occurrences: int) -> int:
    """How much a shared int's reference count drops when a bytepair list holding it
    ``occurrences`` times is freed. bytepair's lists are built from one int object per id,
    shared by the whole process and never freed: up to Python 3.11 each holds a reserve of
    2**62 references its list slots take over (so building a list leaves the count alone and
    freeing it gives one back per slot); from 3.12 on they are immortal (the count never
    moves)."""
    return 0 if sys.version_info >= (3, 12) else occurrences


def has_reserve(obj: object) -> bool:
    """Whether ``obj`` is one of the shared ints: a reserve of references, or immortal."""
    if sys.version_info >= (3, 12):
        return sys.getrefcount(obj) >= 1 << 30
    return sys.getrefcount(obj) > 1 << 61


def fixture_path(name: str) -> Path:
    return DATA / f"{name}.txt"


def fixture_text(name: str) -> str:
    return fixture_path(name).read_text(encoding="utf-8")


def all_fixtures_text() -> str:
    return "".join(fixture_text(name) for name in FIXTURES)


def paragraphs(text: str) -> list[str]:
    """Documents for iterator input: blank-line separated paragraphs, separators kept."""
    return [p for p in re.split(r"(?<=\n\n)", text) if p]


def with_eot(text: str, every: int = 10) -> str:
    """``text`` with an end-of-text special token before every ``every``-th line."""
    lines = text.splitlines(keepends=True)
    return "".join(EOT + line if i % every == 0 else line for i, line in enumerate(lines))


def safe_split(text: str, parts: int) -> list[str]:
    """Cut ``text`` into about ``parts`` pieces where no preset pattern can split differently.

    A cut goes right after a "\\n" that sits between two non-whitespace characters: no pattern
    match crosses such a newline, and the newline is one piece whether or not the text ends there
    (``\\s++$`` versus ``\\s``; a cut after trailing spaces would turn "  \\n" into one piece).
    """
    candidates = [m.end() for m in re.finditer(r"(?<=\S)\n(?=\S)", text)]
    step = max(1, len(candidates) // parts)
    cuts = candidates[step::step][: parts - 1]
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in pairwise(bounds)]


def merge_diff(got: Sequence[tuple[bytes, bytes]], want: Sequence[tuple[bytes, bytes]]) -> str:
    """Describe the first difference between two merge lists ("" if equal)."""
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        if g != w:
            return (f"first differing merge #{i}: got {g!r}, want {w!r}"
                    f" (lengths {len(got)} vs {len(want)})")
    if len(got) != len(want):
        extra = got[len(want)] if len(got) > len(want) else want[len(got)]
        return f"merge lists differ in length: got {len(got)}, want {len(want)}; next: {extra!r}"
    return ""


def assert_same_merges(got, want) -> None:
    got, want = [tuple(m) for m in got], [tuple(m) for m in want]
    diff = merge_diff(got, want)
    assert not diff, diff
