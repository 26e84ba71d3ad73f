"""A slow, obviously-correct reference for bytepair's BPE trainer and encoder.

It implements the training contract word for word:

* ids 0..255 are the bytes; text is split at special tokens (which are dropped), each part is split
  with the pattern (Python's ``regex`` module), and the pieces are counted;
* a pair's count is the number of its adjacent occurrences (overlapping ones too), weighted by the
  piece counts;
* each step merges the pair with the highest count, ties going to the smallest
  ``(left_id, right_id)``; stop when that count is below ``max(min_frequency, 1)`` or the
  vocabulary is full;
* merging replaces the non-overlapping occurrences left to right; if the merged bytes are already a
  token its id is reused (the merge is recorded, the vocabulary does not grow);
* pairs whose merged bytes exceed ``max_token_length`` are never merged;
* ``vocab_size`` counts the 256 bytes, the learned tokens and the special tokens.

The only cleverness is bookkeeping: distinct pieces are kept once with their count, and after a
merge only the pieces containing the pair are recounted. The best pair comes from a heap of
``(-count, left, right)`` entries, where an entry whose count is out of date is skipped.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable
from itertools import pairwise
from unittest import mock

import regex
import tiktoken_ext.openai_public as openai_public


def _tiktoken_pattern(constructor) -> str:
    # The constructors download their rank files; only the pattern is wanted here.
    with mock.patch.object(openai_public, "load_tiktoken_bpe", lambda *a, **k: {}):
        return constructor()["pat_str"]


PATTERNS = {
    "gpt2": openai_public.r50k_pat_str,
    "cl100k": _tiktoken_pattern(openai_public.cl100k_base),
    "o200k": _tiktoken_pattern(openai_public.o200k_base),
}


def pretokenize(text: str, pattern: str, special_tokens: Iterable[str] = ()) -> list[str]:
    """Split ``text`` at the special tokens (dropping them), then each part with ``pattern``."""
    pattern = PATTERNS.get(pattern, pattern)
    specials = sorted(special_tokens, key=len, reverse=True)  # leftmost-longest on overlaps
    parts = regex.split("|".join(map(regex.escape, specials)), text) if specials else [text]
    if pattern == "none":
        return [p for p in parts if p]
    compiled = regex.compile(pattern)
    return [piece for part in parts for piece in compiled.findall(part)]


def _merge_word(word: tuple[int, ...], pair: tuple[int, int], new_id: int) -> tuple[int, ...]:
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def train(texts: Iterable[str], vocab_size: int, pattern: str = "o200k", special_tokens=(),
          min_frequency: int = 2, max_token_length: int | None = None):
    """Train on documents ``texts``; return ``(merges, vocab)``.

    ``merges`` is a list of ``(left_bytes, right_bytes)`` in merge order; ``vocab`` maps token bytes
    to id (bytes and learned tokens only; special tokens follow with the next ids, in order).
    """
    special_tokens = tuple(special_tokens)
    counts = Counter(p.encode() for t in texts for p in pretokenize(t, pattern, special_tokens))
    words = [tuple(w) for w in counts]          # distinct pieces as id sequences
    freq = list(counts.values())                # freq[i] = count of words[i]
    id_bytes = [bytes([b]) for b in range(256)]
    vocab = {b: i for i, b in enumerate(id_bytes)}

    pair_count: Counter[tuple[int, int]] = Counter()
    where = defaultdict(set)                    # pair -> indices of words that (may) contain it
    for i, w in enumerate(words):
        for pair in pairwise(w):
            pair_count[pair] += freq[i]
            where[pair].add(i)

    def allowed(pair):
        size = len(id_bytes[pair[0]]) + len(id_bytes[pair[1]])
        return max_token_length is None or size <= max_token_length

    heap = [(-c, *p) for p, c in pair_count.items() if allowed(p)]
    heapq.heapify(heap)
    merges = []
    while len(id_bytes) + len(special_tokens) < vocab_size and heap:
        neg, left, right = heapq.heappop(heap)
        if pair_count[(left, right)] != -neg:
            continue  # stale entry
        if -neg < max(min_frequency, 1):
            break
        pair, merged = (left, right), id_bytes[left] + id_bytes[right]
        merges.append((id_bytes[left], id_bytes[right]))
        if merged not in vocab:
            vocab[merged] = len(id_bytes)
            id_bytes.append(merged)
        new_id = vocab[merged]
        changed = set()
        for i in where.pop(pair):
            old, new = words[i], _merge_word(words[i], pair, new_id)
            for p in pairwise(old):
                pair_count[p] -= freq[i]
                changed.add(p)
            for p in pairwise(new):
                pair_count[p] += freq[i]
                where[p].add(i)
                changed.add(p)
            words[i] = new
        for p in changed:
            if pair_count[p] > 0 and allowed(p):
                heapq.heappush(heap, (-pair_count[p], *p))
    return merges, vocab


def encode(text: str, merges, pattern: str = "o200k", special_tokens=()) -> list[int]:
    """Encode ordinary text: per piece, repeatedly merge the adjacent pair of lowest merge rank
    (leftmost on ties). Special tokens in ``text`` are split off and dropped, as in training."""
    vocab = {bytes([b]): b for b in range(256)}
    never = len(merges)  # rank of a pair that is not a merge
    rank: dict[tuple[bytes, bytes], int] = {}
    for r, (a, b) in enumerate(merges):
        rank.setdefault((a, b), r)
        vocab.setdefault(a + b, len(vocab))
    def encode_piece(piece: str) -> list[int]:
        parts = [bytes([b]) for b in piece.encode()]
        while len(parts) > 1:
            ranked = [(rank.get(pair, never), i) for i, pair in enumerate(pairwise(parts))]
            best, i = min(ranked)
            if best == never:
                break
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        return [vocab[p] for p in parts]

    cache: dict[str, list[int]] = {}
    ids = []
    for piece in pretokenize(text, pattern, special_tokens):
        if piece not in cache:
            cache[piece] = encode_piece(piece)
        ids.extend(cache[piece])
    return ids
