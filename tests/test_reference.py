"""Tests of the reference trainer itself: hand-worked examples and a naive re-implementation.

The bytepair tests trust ``reference_bpe``; these tests are why.
"""

from __future__ import annotations

import random
from collections import Counter
from itertools import pairwise

import pytest
import reference_bpe as ref
from helpers import FIXTURES, PATTERNS, all_fixtures_text, fixture_text, paragraphs, safe_split
from hypothesis import given, settings
from hypothesis import strategies as st


def naive_train(texts, vocab_size, pattern="o200k", special_tokens=(), min_frequency=2,
                max_token_length=None):
    """The contract with no bookkeeping at all: recount every pair of every piece at each step."""
    words = [[bytes([b]) for b in p.encode()]
             for t in texts for p in ref.pretokenize(t, pattern, special_tokens)]
    ids = {bytes([b]): b for b in range(256)}
    merges = []
    while len(ids) + len(special_tokens) < vocab_size:
        counts = Counter()
        for w in words:
            for a, b in pairwise(w):
                if max_token_length is None or len(a + b) <= max_token_length:
                    counts[(a, b)] += 1
        if not counts:
            break
        a, b = max(counts, key=lambda p: (counts[p], -ids[p[0]], -ids[p[1]]))
        if counts[(a, b)] < max(min_frequency, 1):
            break
        merges.append((a, b))
        ids.setdefault(a + b, len(ids))
        for w in words:
            i = 0
            while i < len(w) - 1:
                if (w[i], w[i + 1]) == (a, b):
                    w[i : i + 2] = [a + b]
                i += 1
    return merges, ids


def segment_like_training(text, merges, pattern):
    """Apply each merge in order to every piece, as training does; return the token bytes."""
    pieces = ref.pretokenize(text, pattern)
    words = {p: [bytes([b]) for b in p.encode()] for p in pieces}
    for a, b in merges:
        for w in words.values():
            i = 0
            while i < len(w) - 1:
                if (w[i], w[i + 1]) == (a, b):
                    w[i : i + 2] = [a + b]
                i += 1
    return [t for p in pieces for t in words[p]]


def test_classic_example():
    # "aaabdaaabac": (a,a) occurs 4 times -> Z; then (a,b) 2 and (Z,a) 2 tie, and
    # (97, 98) < (256, 97) -> Y; then (Z,Y) 2 -> X = "aaab"; then all count 1, and (a,c) = (97, 99)
    # is the smallest pair.
    merges, vocab = ref.train(["aaabdaaabac"], 260, pattern="none", min_frequency=1)
    assert merges == [(b"a", b"a"), (b"a", b"b"), (b"aa", b"ab"), (b"a", b"c")]
    assert [vocab[t] for t in (b"aa", b"ab", b"aaab", b"ac")] == [256, 257, 258, 259]
    assert len(vocab) == 260
    # min_frequency 2 stops before the count-1 pairs.
    assert ref.train(["aaabdaaabac"], 1000, pattern="none")[0] == merges[:3]


def test_overlapping_pairs_count_and_merge_left_to_right():
    # "aaa" has two (a,a) occurrences: count 2 reaches min_frequency 2 from one piece.
    assert ref.train(["aaa"], 300, pattern="none")[0] == [(b"a", b"a")]
    assert ref.train(["aa"], 300, pattern="none")[0] == []
    # "aaaaa": (a,a) counts 4 -> [aa, aa, a]; then (aa,aa) and (aa,a) both count 1, and
    # (256, 97) < (256, 256), so "aaa" is made before "aaaa".
    merges, _ = ref.train(["aaaaa"], 300, pattern="none", min_frequency=1)
    assert merges[:2] == [(b"a", b"a"), (b"aa", b"a")]


def test_ties_go_to_smallest_left_then_right_id():
    assert ref.train(["ba", "ab"], 257, pattern="none", min_frequency=1)[0] == [(b"a", b"b")]
    assert ref.train(["za", "ay"], 257, pattern="none", min_frequency=1)[0] == [(b"a", b"y")]
    assert ref.train(["ay", "ax"], 257, pattern="none", min_frequency=1)[0] == [(b"a", b"x")]
    # Count beats ids.
    assert ref.train(["zz", "zz", "ab"], 257, pattern="none", min_frequency=1)[0] == [(b"z", b"z")]


def test_counts_weighted_by_piece_frequency():
    # " the" x 3 pieces gives (" ",t), (t,h), (h,e) count 3 each; the one piece " xyxyxy" gives
    # (x,y) count 3 too. Of these four, (32, 116) is the smallest.
    text = " the the the xyxyxy"
    merges, _ = ref.train([text], 257, pattern="gpt2", min_frequency=1)
    assert merges == [(b" ", b"t")]


def test_special_tokens_split_and_count():
    text = "ab<s>ab<s>cd"
    merges, _ = ref.train([text], 300, pattern="none", special_tokens=["<s>"])
    assert merges == [(b"a", b"b")]  # "cd" once; "<s" and "s>" never seen
    assert ref.pretokenize(text, "none", ["<s>"]) == ["ab", "ab", "cd"]
    # vocab_size counts the specials: 256 + 1 special leaves room for one merge.
    one_special = {"pattern": "none", "special_tokens": ["<s>"]}
    assert ref.train(["abab cdcd"], 258, **one_special)[0] == [(b"a", b"b")]
    assert ref.train(["abab cdcd"], 257, **one_special)[0] == []
    # Longest special wins where two start at the same place.
    assert ref.pretokenize("x<s>>y", "none", ["<s>", "<s>>"]) == ["x", "y"]


def test_max_token_length():
    text = "abcdabcdabcd " * 5
    merges, _ = ref.train([text], 400, pattern="none", max_token_length=2)
    assert merges and all(len(a + b) <= 2 for a, b in merges)
    merges, _ = ref.train([text], 400, pattern="none", max_token_length=3)
    assert max(len(a + b) for a, b in merges) == 3


def test_presets_are_tiktoken_patterns():
    assert ref.PATTERNS["gpt2"].startswith("'(?:[sdmt]|ll|ve|re)| ?\\p{L}++")
    assert ref.PATTERNS["cl100k"].startswith("'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+")
    assert ref.PATTERNS["o200k"].count("|") >= 6
    assert ref.pretokenize("Hello world's  end\n\n", "gpt2") == [
        "Hello", " world", "'s", " ", " end", "\n\n"]
    assert ref.pretokenize("12345 ok", "cl100k") == ["123", "45", " ok"]


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize(("name", "size"), [("ties", None), ("en_kjv", 5000), ("zh", 3000)])
@pytest.mark.parametrize("options", [{}, {"min_frequency": 1}, {"max_token_length": 3},
                                     {"special_tokens": ("\n\n", " and")}])
def test_reference_equals_naive(pattern, name, size, options):
    text = fixture_text(name)[:size]
    want = naive_train([text], 500, pattern, **options)
    assert ref.train([text], 500, pattern, **options) == want


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab c\n", max_size=30), max_size=6),
       st.integers(min_value=0, max_value=3), st.sampled_from([None, 2, 3]))
def test_reference_equals_naive_random(texts, min_frequency, max_token_length):
    options = {"min_frequency": min_frequency, "max_token_length": max_token_length}
    assert ref.train(texts, 300, "gpt2", **options) == naive_train(texts, 300, "gpt2", **options)


def test_training_is_independent_of_document_order():
    docs = paragraphs(fixture_text("en_kjv"))
    shuffled = docs[:]
    random.Random(0).shuffle(shuffled)
    assert ref.train(docs, 800) == ref.train(shuffled, 800)


def test_smaller_vocab_is_a_prefix():
    text = fixture_text("code_python")
    big, _ = ref.train([text], 900, "cl100k")
    small, _ = ref.train([text], 400, "cl100k")
    assert small == big[:144]


def test_safe_split_does_not_change_pretokenization():
    text = all_fixtures_text()
    parts = safe_split(text, 7)
    assert len(parts) == 7 and "".join(parts) == text
    for pattern in PATTERNS:
        split = [p for part in parts for p in ref.pretokenize(part, pattern)]
        assert split == ref.pretokenize(text, pattern)


def test_unsafe_split_does_change_pretokenization():
    # The reason for safe_split's rule: a cut after trailing whitespace joins "  \n" into one piece.
    assert ref.pretokenize("a  \nb", "gpt2") == ["a", "  ", "\n", "b"]
    assert ref.pretokenize("a  \n", "gpt2") + ref.pretokenize("b", "gpt2") == ["a", "  \n", "b"]


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("pattern", PATTERNS)
def test_encode_reproduces_training_segmentation(name, pattern):
    text = fixture_text(name)
    merges, vocab = ref.train([text], 1000, pattern)
    ids = ref.encode(text, merges, pattern)
    id_bytes = {i: b for b, i in vocab.items()}
    tokens = [id_bytes[i] for i in ids]
    assert b"".join(tokens) == text.encode()
    assert tokens == segment_like_training(text, merges, pattern)
    assert len(ids) < len(text.encode()) * 0.7  # the merges do compress


def test_encode_of_unseen_text_and_specials():
    merges, _ = ref.train(["abab abab"], 300, pattern="gpt2")
    assert ref.encode("abab", merges, "gpt2") == [257]
    assert ref.encode(" abcab", merges, "gpt2") == [32, 256, 99, 256]
    assert ref.encode("ab<s>ab", merges, "gpt2", ["<s>"]) == [256, 256]
