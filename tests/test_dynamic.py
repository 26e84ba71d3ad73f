"""Dynamic batch merging: equality with the Python port of the reference algorithm, invariants,
bad input. Real batches come from ../shared (corpus and tiktoken vocabularies); skipped without."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import bytepair
import numpy as np
import pytest
from bytepair import DynamicBatch, Tokenizer, dynamic_merge
from helpers import EOT, REPO, fixture_text
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_dynamic import dynamic_merge_reference

SHARED_VOCAB = REPO.parent / "shared" / "vocab"
# Corpus files of the equality tests: English, several languages and scripts, code.
CORPORA = ("en.txt", "langs/de.txt", "langs/ru.txt", "langs/zh.txt", "langs/ja.txt",
           "langs/ko.txt", "code/python.txt")
CHECKPOINTS = (1, 10, 50, 150)


# ---- fixtures -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cl100k() -> Tokenizer:
    path = SHARED_VOCAB / "cl100k_base.tiktoken"
    if not path.is_file():
        pytest.skip(f"shared vocabulary not found at {path}")
    return Tokenizer.from_tiktoken(path, "cl100k_base", special_tokens="default")


@pytest.fixture(scope="module")
def small_tok() -> Tokenizer:
    """A small tokenizer trained on the repository's fixtures (no ../shared needed)."""
    return bytepair.train_from_iterator([fixture_text("en_kjv")], vocab_size=600,
                                        pattern="cl100k", special_tokens=[EOT])


def corpus_batch(shared: Path, name: str, size: int, chars: int, seed: int = 0) -> list[str]:
    """``size`` texts of about ``chars`` characters, evenly spread over a corpus file."""
    text = (shared / name).read_text(encoding="utf-8")
    step = max(1, (len(text) - chars) // size)
    start = (seed * 7919) % max(1, step)
    return [text[start + i * step : start + i * step + chars] for i in range(size)]


# ---- independent boundaries ---------------------------------------------------------------
def is_ws(c: str) -> bool:
    """Unicode White_Space (Rust's char::is_whitespace, HF's WhitespaceSplit): Python's isspace
    minus the four information separators."""
    return c.isspace() and c not in "\x1c\x1d\x1e\x1f"


def token_spans(tok: Tokenizer, ids: list[int]) -> tuple[bytes, list[int]]:
    spans, text = [0], b""
    for t in ids:
        text += tok.id_to_token(t)
        spans.append(len(text))
    return text, spans


def reference_cuts(tok: Tokenizer, text: str, boundary: str) -> tuple[list[int], list[bool]]:
    """Base ids of ``text`` (specials allowed) and their cut flags, found independently of the
    Rust code: pretokens by the ``regex`` module with the tokenizer's pattern, each encoded
    alone; words from the decoded bytes."""
    import regex

    ids: list[int] = []
    cuts: list[bool] = []
    specials = tok.special_tokens
    parts = re.split("(" + "|".join(re.escape(s) for s in specials) + ")", text) if specials \
        else [text]
    special_at: set[int] = set()
    for part in parts:
        if part in specials:
            special_at.add(len(ids))
            ids.append(specials[part])
            cuts.append(True)
            continue
        for piece in regex.findall(tok.pattern, part):
            p = tok.encode_ordinary(piece)
            ids.extend(p)
            cuts.extend([boundary == "pretoken"] + [False] * (len(p) - 1))
    for i in special_at:
        if i + 1 < len(cuts):
            cuts[i + 1] = True
    if cuts:
        cuts[0] = True
    if boundary == "word":
        raw, spans = token_spans(tok, ids)
        ws = [False] * len(raw)
        pos = 0
        for c in raw.decode("utf-8"):
            ws[pos] = is_ws(c)
            pos += len(c.encode("utf-8"))

        def inner(i: int) -> bool:
            return any(ws[spans[i] + 1 : spans[i + 1]])

        for i in range(len(ids)):
            starts = spans[i] < spans[i + 1] and ws[spans[i]]
            if starts or inner(i) or (i > 0 and inner(i - 1)):
                cuts[i] = True
    return ids, cuts


def new_table_equal(got: DynamicBatch, ref: Any, vocab: int, tok: Optional[Tokenizer]) -> None:
    assert [tuple(p) for p in got.parents.tolist()] == ref.parents
    assert got.merge_counts.tolist() == ref.counts
    base = ref.base_ids(vocab)
    assert [got.base_ids_of(t).tolist() for t in got.new_ids] == base
    if tok is not None:
        assert got.new_token_bytes == [tok.decode_bytes(b) for b in base]
    assert (got.tokens_before, got.tokens_after) == (ref.tokens_before, ref.tokens_after)


# ---- equality with the reference on real multilingual batches ------------------------------
@pytest.mark.parametrize("name", CORPORA)
@pytest.mark.parametrize("boundary", ["pretoken", "word", "none"])
def test_equals_reference_on_real_batches(
    shared_corpus: Path, cl100k: Tokenizer, name: str, boundary: str
) -> None:
    cjk = name in ("langs/zh.txt", "langs/ja.txt", "langs/ko.txt")  # ~1 token per character
    for size, chars in ((8, 200), (32, 250 if cjk else 500)):
        texts = corpus_batch(shared_corpus, name, size, chars, seed=size)
        if name == "en.txt":
            texts[1] = EOT + texts[1] + EOT  # special tokens never merge
        pairs = [reference_cuts(cl100k, t, boundary) for t in texts]
        seqs, cuts = [p[0] for p in pairs], [p[1] for p in pairs]
        # the encoder's ids and boundaries are those found independently
        got0 = cl100k.encode_batch_dynamic(texts, merges=0, boundary=boundary,
                                           allowed_special="all")
        assert [s.tolist() for s in got0.sequences()] == seqs
        assert got0.word_starts.tolist() == [c for cs in cuts for c in cs]
        snapshots: dict[int, list[list[int]]] = {}

        def keep(k: int, batch: list[list[int]], snapshots: dict[int, list[list[int]]] =
                 snapshots) -> None:
            if k in CHECKPOINTS:
                snapshots[k] = [list(s) for s in batch]

        vocab = cl100k.vocab_size
        ref = dynamic_merge_reference(seqs, cuts, vocab, merges=max(CHECKPOINTS), on_merge=keep)
        for m in CHECKPOINTS:
            got = cl100k.encode_batch_dynamic(texts, merges=m, boundary=boundary,
                                              allowed_special="all")
            want = snapshots.get(m, ref.sequences)
            assert [s.tolist() for s in got.sequences()] == want, (name, boundary, size, m)
            assert got.num_merges == min(m, len(ref.parents))
        new_table_equal(got, ref, vocab, cl100k)
        # the low-level entry point on the same arrays gives the same batch
        flat = np.array([t for s in seqs for t in s], dtype=np.uint32)
        offs = np.cumsum([0] + [len(s) for s in seqs])
        low = dynamic_merge(flat, offs, np.array([c for cs in cuts for c in cs]),
                            merges=max(CHECKPOINTS), tokenizer=cl100k)
        assert np.array_equal(low.ids, got.ids) and np.array_equal(low.offsets, got.offsets)
        assert low.new_token_bytes == got.new_token_bytes


@pytest.mark.parametrize("name", ["en.txt", "langs/zh.txt"])
def test_equals_reference_until_exhausted(shared_corpus: Path, cl100k: Tokenizer,
                                          name: str) -> None:
    """min_count=1 (the reference's own stop rule) runs until no pair is left; and
    target_reduction stops at the first merge that reaches it."""
    texts = corpus_batch(shared_corpus, name, 4, 150)
    seqs, cuts = zip(*(reference_cuts(cl100k, t, "word") for t in texts), strict=True)
    vocab = cl100k.vocab_size
    ref = dynamic_merge_reference(seqs, cuts, vocab, min_count=1)
    got = cl100k.encode_batch_dynamic(texts, target_reduction=1.0, min_count=1, boundary="word")
    assert [s.tolist() for s in got.sequences()] == ref.sequences
    new_table_equal(got, ref, vocab, cl100k)
    assert got.num_merges > 20
    for r in (0.0, 0.1, 0.25):
        ref = dynamic_merge_reference(seqs, cuts, vocab, target_reduction=r)
        got = cl100k.encode_batch_dynamic(texts, target_reduction=r, boundary="word")
        assert [s.tolist() for s in got.sequences()] == ref.sequences
        assert got.reduction == pytest.approx(1 - ref.tokens_after / ref.tokens_before)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=20), max_size=6),
    st.integers(0, 40),
    st.integers(1, 3),
)
def test_random_batches_equal_reference(seqs: list[list[tuple[int, bool]]], merges: int,
                                        min_count: int) -> None:
    """Tiny alphabets: many ties, overlapping runs, repeated units (deduplicated inside)."""
    ids = [[t for t, _ in s] for s in seqs]
    cuts = [[c for _, c in s] for s in seqs]
    ref = dynamic_merge_reference(ids, cuts, 4, merges=merges, min_count=min_count)
    got = dynamic_merge(ids, None, cuts, vocab_size=4, merges=merges, min_count=min_count,
                        token_bytes=[b"a", b"b", b"c", b"d"])
    assert [s.tolist() for s in got.sequences()] == ref.sequences
    new_table_equal(got, ref, 4, None)
    table = [b"a", b"b", b"c", b"d"]
    assert got.new_token_bytes == [b"".join(table[i] for i in b) for b in ref.base_ids(4)]


def test_tie_rule_first_occurrence_wins() -> None:
    # (7, 8) and (1, 2) occur twice each; (7, 8) occurs first. Then (1, 2) and (8, 9)...
    got = dynamic_merge([[5, 7, 8, 1, 2], [1, 2, 7, 8]], vocab_size=10, merges=2)
    assert got.parents.tolist() == [[7, 8], [1, 2]]
    # a pair whose first occurrence lies across a cut counts from its first mergeable one
    got = dynamic_merge([[1, 2, 3, 4, 3, 4, 1, 2, 5, 1, 2]], None, [[True, True] + [False] * 9],
                        vocab_size=10, merges=1)
    assert got.parents.tolist() == [[3, 4]]


# ---- invariants ---------------------------------------------------------------------------
@pytest.mark.parametrize("boundary", ["pretoken", "word", "none"])
def test_invariants(small_tok: Tokenizer, boundary: str) -> None:
    texts = [p for p in fixture_text("en_kjv").split("\n\n") if p][:24]
    texts += [fixture_text("zh")[:300], fixture_text("code_python")[:400], "", "a", "  \n\n  "]
    texts[3] = texts[3] + EOT + texts[4]
    base = small_tok.encode_batch(texts, allowed_special="all")
    ident = small_tok.encode_batch_dynamic(texts, merges=0, boundary=boundary,
                                           allowed_special="all")
    assert [s.tolist() for s in ident.sequences()] == base  # merges=0 is the identity
    assert ident.num_merges == 0 and ident.reduction == 0.0
    prev = ident
    for m in (1, 5, 25, 100):
        b = small_tok.encode_batch_dynamic(texts, merges=m, boundary=boundary,
                                           allowed_special="all")
        # decoding gives the original text; expanding gives the base ids
        assert [b.decode(i) for i in range(len(b))] == texts
        ids, offs = b.to_base()
        assert [ids[offs[i]:offs[i + 1]].tolist() for i in range(len(b))] == base
        # lengths only shrink, by as many tokens as were merged
        for s, t in zip(b.sequences(), prev.sequences(), strict=True):
            assert len(s) <= len(t)
        assert b.tokens_after == len(b.ids) <= prev.tokens_after
        assert b.tokens_before == sum(map(len, base))
        # no merged token crosses a boundary
        cuts = ident.word_starts
        pos = 0
        for t in b.ids.tolist():
            n = len(b.base_ids_of(t))
            assert not cuts[pos + 1 : pos + n].any()
            pos += n
        if boundary == "word":
            for raw in b.new_token_bytes or []:
                text = raw.decode("utf-8", errors="ignore")
                assert not any(is_ws(c) for c in text[1:]), raw
        special = small_tok.special_tokens[EOT]
        assert special not in b.new_base_ids.tolist()
        prev = b


def test_target_reduction_is_minimal(small_tok: Tokenizer) -> None:
    texts = [p for p in fixture_text("en_kjv").split("\n\n") if p][:32]
    for r in (0.05, 0.2):
        b = small_tok.encode_batch_dynamic(texts, target_reduction=r)
        assert b.reduction >= r
        fewer = small_tok.encode_batch_dynamic(texts, merges=b.num_merges - 1)
        assert fewer.reduction < r
    both = small_tok.encode_batch_dynamic(texts, merges=3, target_reduction=0.9)
    assert both.num_merges == 3
    # unreachable target: stops when no pair occurs twice
    b = small_tok.encode_batch_dynamic(texts, target_reduction=1.0)
    assert b.reduction < 1.0 and b.merge_counts.min() >= 2


def test_embeddings_are_means_of_constituents() -> None:
    rng = np.random.default_rng(0)
    got = dynamic_merge([[1, 2, 3, 1, 2, 3, 1, 2]], vocab_size=6, merges=3)
    e = rng.normal(size=(6, 4)).astype(np.float32)
    new = got.new_embeddings(e)
    assert new.dtype == np.float32 and new.shape == (got.num_merges, 4)
    for k, t in enumerate(got.new_ids):
        assert np.allclose(new[k], e[got.base_ids_of(t)].mean(axis=0), atol=1e-6)
    full = got.embedding_matrix(e)
    assert full.shape == (6 + got.num_merges, 4)
    assert np.array_equal(full[:6], e) and np.array_equal(full[6:], new)
    assert full[got.ids].shape == (len(got.ids), 4)
    assert got.new_embeddings(np.arange(12).reshape(6, 2)).dtype == np.float64
    with pytest.raises(ValueError, match="rows"):
        got.new_embeddings(e[:2])
    with pytest.raises(ValueError, match="at least vocab_size"):
        got.embedding_matrix(e[:5])
    none = dynamic_merge([[1, 2]], vocab_size=6, merges=0)
    assert none.new_embeddings(e).shape == (0, 4)


# ---- empty and bad input ------------------------------------------------------------------
def test_empty_batches(small_tok: Tokenizer) -> None:
    b = small_tok.encode_batch_dynamic([], merges=10)
    assert len(b) == 0 and b.ids.size == 0 and b.offsets.tolist() == [0] and b.reduction == 0.0
    b = small_tok.encode_batch_dynamic(["", "", "x"], merges=10)
    assert [s.tolist() for s in b.sequences()] == [[], [], small_tok.encode("x")]
    b = dynamic_merge(np.zeros(0, dtype=np.uint32), [0], vocab_size=5, merges=3)
    assert len(b) == 0 and b.num_merges == 0
    b = dynamic_merge([], vocab_size=5, merges=3)
    assert len(b) == 0
    b = dynamic_merge([[], [1, 1, 1, 1], []], vocab_size=5, merges=3)
    assert [s.tolist() for s in b.sequences()] == [[], [5, 5], []]


def test_bad_input() -> None:
    ok: dict[str, Any] = {"vocab_size": 5, "merges": 1}
    with pytest.raises(ValueError, match=r"token id 7 at position 1 is outside the vocabulary"):
        dynamic_merge([1, 7], [0, 2], **ok)
    with pytest.raises(ValueError, match="negative"):
        dynamic_merge([[1, -1]], **ok)
    with pytest.raises(TypeError, match="integers"):
        dynamic_merge([0.5, 1.0], [0, 2], **ok)
    with pytest.raises(ValueError, match="offsets end at 1 but there are 2 ids"):
        dynamic_merge([1, 2], [0, 1], **ok)
    with pytest.raises(ValueError, match="must not decrease"):
        dynamic_merge([1, 2], [0, 2, 1, 2], **ok)
    with pytest.raises(ValueError, match="start with 0"):
        dynamic_merge([1, 2], [], **ok)
    with pytest.raises(ValueError, match="word_starts has 1 entries but there are 2 ids"):
        dynamic_merge([1, 2], [0, 2], [True], **ok)
    with pytest.raises(ValueError, match=r"word_starts\[0\] has 1 entries"):
        dynamic_merge([[1, 2]], None, [[True]], **ok)
    with pytest.raises(TypeError, match="merges=m"):
        dynamic_merge([[1, 2]], vocab_size=5)
    with pytest.raises(ValueError, match="merges must be >= 0"):
        dynamic_merge([[1, 2]], vocab_size=5, merges=-1)
    with pytest.raises(ValueError, match=r"target_reduction must be in \[0, 1\]"):
        dynamic_merge([[1, 2]], vocab_size=5, target_reduction=1.5)
    with pytest.raises(ValueError, match="min_count"):
        dynamic_merge([[1, 2]], vocab_size=5, merges=1, min_count=0)
    with pytest.raises(TypeError, match="vocab_size"):
        dynamic_merge([[1, 2]], merges=1)
    with pytest.raises(ValueError, match="token_bytes has 2 entries"):
        dynamic_merge([[1, 2]], vocab_size=5, merges=1, token_bytes=[b"a", b"b"])
    with pytest.raises(TypeError, match="sequence of id sequences"):
        dynamic_merge(7, vocab_size=5, merges=1)
    b = dynamic_merge([[1, 2]], vocab_size=5, merges=1)
    with pytest.raises(ValueError, match="base vocabulary"):
        b.decode(0)
    with pytest.raises(IndexError):
        b[3]
    with pytest.raises(ValueError, match="neither a base id"):
        b.base_ids_of(99)


def test_bad_tokenizer_arguments(small_tok: Tokenizer) -> None:
    with pytest.raises(ValueError, match="boundary must be one of"):
        small_tok.encode_batch_dynamic(["a b"], merges=1, boundary="sentence")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="single str"):
        small_tok.encode_batch_dynamic("a b", merges=1)
    with pytest.raises(ValueError, match="disallowed special token"):
        small_tok.encode_batch_dynamic(["x" + EOT], merges=1)


def test_repr_and_words(small_tok: Tokenizer) -> None:
    b = small_tok.encode_batch_dynamic(["the cat and the hat", "the cat sat"], merges=2,
                                       boundary="word", min_count=1)
    assert repr(b).startswith("<bytepair.DynamicBatch sequences=2 merges=2 ")
    # " the" is the only pair of base tokens... (whatever the base split, the first new token
    # holds at most one leading space and no other whitespace)
    assert b.new_token_bytes is not None and len(b.new_token_bytes) == 2
    for raw in b.new_token_bytes:
        assert b" " not in raw[1:]
