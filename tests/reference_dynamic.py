"""A straightforward Python port of the reference dynamic BPE, for equality tests and benchmarks.

Reference: DariusFeher/dynamic-tokenization, ``tokenizations/dynamic_bpe.py``
(``Dynamic_BPE.tokenize_batch``, ``get_most_frequent_pair``, ``merge_pair``). Kept as there:

- every round recounts all pairs with a ``collections.Counter`` filled in scan order (sequence by
  sequence, left to right), and takes ``max(pair_freqs, key=pair_freqs.get)``: among equally
  frequent pairs, the first one inserted, i.e. the pair whose first counted occurrence comes
  first in the batch;
- ``merge_pair`` rewrites every sequence left to right, replacing non-overlapping occurrences;
- the loop stops after ``max_nr_merges`` merges or when no pair is left.

Adapted: tokens are ids (a new token gets the next id from ``vocab_size`` up instead of the
concatenated string); which pairs may merge is decided by position (``cuts[i]`` True: token i
may not join token i-1) rather than by re-pretokenizing the pair's string (``is_valid_pair``),
so the port can be checked on sequences from any tokenizer; a merged token keeps the cut flag
of its left part. Two stop rules are added, as the issue asks: ``target_reduction`` and
``min_count`` (``min_count=1`` is the reference's rule).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Optional

Pair = tuple[int, int]


def get_most_frequent_pair(
    batch_tokens: list[list[int]], batch_cuts: list[list[bool]]
) -> Optional[tuple[Pair, int]]:
    """The most frequent mergeable pair and its count (None if there is none)."""
    pair_freqs: Counter[Pair] = Counter()
    for tokens, cuts in zip(batch_tokens, batch_cuts, strict=True):
        pairs = ((tokens[i], tokens[i + 1]) for i in range(len(tokens) - 1) if not cuts[i + 1])
        pair_freqs.update(pairs)
    if pair_freqs:
        best = max(pair_freqs, key=pair_freqs.__getitem__)
        return best, pair_freqs[best]
    return None


def merge_pair(
    a: int, b: int, new: int, batch_tokens: list[list[int]], batch_cuts: list[list[bool]]
) -> int:
    """Replace the mergeable occurrences of (a, b) left to right; returns how many."""
    done = 0
    for idx, (tokens, cuts) in enumerate(zip(batch_tokens, batch_cuts, strict=True)):
        i = 0
        new_tokens: list[int] = []
        new_cuts: list[bool] = []
        while i < len(tokens):
            if i < len(tokens) - 1 and tokens[i] == a and tokens[i + 1] == b and not cuts[i + 1]:
                new_tokens.append(new)
                new_cuts.append(cuts[i])
                done += 1
                i += 2
            else:
                new_tokens.append(tokens[i])
                new_cuts.append(cuts[i])
                i += 1
        batch_tokens[idx] = new_tokens
        batch_cuts[idx] = new_cuts
    return done


@dataclass
class ReferenceResult:
    sequences: list[list[int]]
    parents: list[Pair] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    tokens_before: int = 0
    tokens_after: int = 0

    def base_ids(self, vocab_size: int) -> list[list[int]]:
        """The base ids of each new token."""
        out: list[list[int]] = []
        for a, b in self.parents:
            parts = [[x] if x < vocab_size else out[x - vocab_size] for x in (a, b)]
            out.append(parts[0] + parts[1])
        return out


def dynamic_merge_reference(
    sequences: Sequence[Sequence[int]],
    cuts: Optional[Sequence[Sequence[bool]]],
    vocab_size: int,
    *,
    merges: Optional[int] = None,
    target_reduction: Optional[float] = None,
    min_count: int = 2,
    on_merge: Optional[Callable[[int, list[list[int]]], None]] = None,
) -> ReferenceResult:
    """The reference loop (``tokenize_batch``) over id sequences. ``cuts`` None: only sequence
    starts. ``on_merge(k, batch)`` is called after merge k (1-based) with the current batch."""
    batch = [list(s) for s in sequences]
    if cuts is None:
        batch_cuts = [[i == 0 for i in range(len(s))] for s in batch]
    else:
        batch_cuts = [[bool(c) for c in cs] for cs in cuts]
    before = sum(len(s) for s in batch)
    res = ReferenceResult(batch, tokens_before=before, tokens_after=before)
    total_merges = 0
    while merges is None or total_merges < merges:
        if target_reduction is not None and (
            before == 0 or 1 - res.tokens_after / before >= target_reduction
        ):
            break
        best = get_most_frequent_pair(batch, batch_cuts)
        if best is None or best[1] < min_count:
            break
        (a, b), count = best
        res.tokens_after -= merge_pair(a, b, vocab_size + total_merges, batch, batch_cuts)
        total_merges += 1
        res.parents.append((a, b))
        res.counts.append(count)
        if on_merge is not None:
            on_merge(total_merges, batch)
    res.sequences = batch
    return res
