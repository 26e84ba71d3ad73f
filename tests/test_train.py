"""bytepair.train against the reference trainer: the merge lists must be identical."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import reference_bpe as ref
from helpers import (
    EOT,
    FIXTURES,
    PATTERNS,
    all_fixtures_text,
    assert_same_merges,
    fixture_path,
    fixture_text,
    paragraphs,
    safe_split,
    with_eot,
)

bp = pytest.importorskip("bytepair")

SPECIALS = (EOT, "\n\n", " and")  # the last two occur in the text and change what is counted


@functools.cache
def reference(name: str, vocab_size: int, pattern: str = "o200k", special_tokens=(),
              min_frequency: int = 2, max_token_length=None, docs: bool = False, eot: bool = False):
    text = fixture_text(name)
    if eot:
        text = with_eot(text)
    texts = paragraphs(text) if docs else [text]
    return ref.train(texts, vocab_size, pattern, special_tokens, min_frequency, max_token_length)


def write(tmp_path: Path, text: str, name: str = "corpus.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def check_tokenizer(tok, merges, vocab, vocab_size, special_tokens=()):
    """Everything a trained tokenizer exposes must agree with the reference result."""
    assert_same_merges(tok.merges, merges)
    learned = len(vocab) - 256
    assert tok.vocab_size == 256 + learned + len(special_tokens)
    assert tok.vocab_size <= vocab_size
    assert tok.get_vocab() == vocab
    assert tok.special_tokens == {s: 256 + learned + i for i, s in enumerate(special_tokens)}


@pytest.mark.parametrize("vocab_size", [300, 1000, 2000])
@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("name", FIXTURES)
def test_file_matches_reference(name, pattern, vocab_size):
    tok = bp.train(str(fixture_path(name)), vocab_size, pattern=pattern)
    # A smaller vocabulary is a prefix of a larger one (test_reference checks it): train once.
    merges, vocab = reference(name, 2000, pattern)
    n = vocab_size - 256
    assert len(vocab) == 256 + len(merges)  # no merge reused an id, so ids follow merges
    check_tokenizer(tok, merges[:n], {b: i for b, i in vocab.items() if i < vocab_size},
                    vocab_size)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("name", FIXTURES)
def test_documents_match_reference(name, pattern):
    # Each paragraph is a document, pretokenized on its own.
    tok = bp.train_from_iterator(paragraphs(fixture_text(name)), 1000, pattern=pattern)
    merges, vocab = reference(name, 1000, pattern, docs=True)
    check_tokenizer(tok, merges, vocab, 1000)
    gen = (p for p in paragraphs(fixture_text(name)))  # any iterable of str is documents
    assert_same_merges(bp.train(gen, 1000, pattern=pattern).merges, merges)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("name", ["en_kjv", "code_python", "zh", "ties"])
@pytest.mark.parametrize("specials", [(EOT,), SPECIALS])
def test_special_tokens_match_reference(tmp_path, name, pattern, specials):
    path = write(tmp_path, with_eot(fixture_text(name)))
    tok = bp.train([path], 1000, pattern=pattern, special_tokens=list(specials))
    merges, vocab = reference(name, 1000, pattern, specials, eot=True)
    check_tokenizer(tok, merges, vocab, 1000, specials)
    # Without the specials, the end-of-text markers are ordinary text and get learned.
    plain = bp.train([path], 1000, pattern=pattern)
    assert plain.merges != tok.merges
    assert_same_merges(plain.merges, reference(name, 1000, pattern, eot=True)[0])


@pytest.mark.parametrize("min_frequency", [0, 1, 5, 40])
@pytest.mark.parametrize("pattern", ["gpt2", "o200k"])
@pytest.mark.parametrize("name", ["en_kjv", "code_rust", "ja", "ties"])
def test_min_frequency_matches_reference(name, pattern, min_frequency):
    tok = bp.train(fixture_path(name), 2000, pattern=pattern, min_frequency=min_frequency)
    merges, vocab = reference(name, 2000, pattern, min_frequency=min_frequency)
    check_tokenizer(tok, merges, vocab, 2000)


@pytest.mark.parametrize("max_token_length", [2, 3, 6])
@pytest.mark.parametrize("pattern", ["cl100k", "o200k"])
@pytest.mark.parametrize("name", ["en_kjv", "code_python", "zh", "ties"])
def test_max_token_length_matches_reference(name, pattern, max_token_length):
    tok = bp.train(fixture_path(name), 1000, pattern=pattern, max_token_length=max_token_length)
    merges, vocab = reference(name, 1000, pattern, max_token_length=max_token_length)
    check_tokenizer(tok, merges, vocab, 1000)
    assert all(len(a + b) <= max_token_length for a, b in tok.merges)


def test_all_options_together(tmp_path):
    path = write(tmp_path, with_eot(fixture_text("code_python")))
    options = {"special_tokens": SPECIALS, "min_frequency": 3, "max_token_length": 5}
    tok = bp.train(path, 1500, pattern="cl100k", **{**options, "special_tokens": list(SPECIALS)})
    merges, vocab = reference("code_python", 1500, "cl100k", eot=True, **options)
    check_tokenizer(tok, merges, vocab, 1500, SPECIALS)


@pytest.mark.parametrize("pattern", ["none", r" ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+"])
@pytest.mark.parametrize("name", ["en_kjv", "ties"])
def test_other_patterns_match_reference(name, pattern):
    docs = fixture_text(name).splitlines(keepends=True)
    tok = bp.train_from_iterator(docs, 800, pattern=pattern)
    merges, vocab = ref.train(docs, 800, pattern)
    check_tokenizer(tok, merges, vocab, 800)
    assert tok.pattern == (None if pattern == "none" else pattern)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_preset_pattern_strings(pattern):
    tok = bp.train_from_iterator(["hello world"], 260, pattern=pattern)
    assert tok.pattern == ref.PATTERNS[pattern]
    # The regex string of a preset trains exactly like the preset name.
    text = fixture_text("code_rust")
    by_name = bp.train_from_iterator([text], 600, pattern=pattern).merges
    assert_same_merges(bp.train_from_iterator([text], 600, pattern=ref.PATTERNS[pattern]).merges,
                       by_name)


def test_vocab_size_exactly_reached_and_ids():
    tok = bp.train(fixture_path("en_kjv"), 700, special_tokens=[EOT, "<|pad|>"])
    assert tok.vocab_size == 700
    assert len(tok.merges) == 700 - 256 - 2
    assert tok.special_tokens == {EOT: 698, "<|pad|>": 699}
    vocab = tok.get_vocab()
    assert sorted(vocab.values()) == list(range(698))
    for (a, b), new_id in zip(tok.merges, range(256, 698), strict=False):
        assert vocab[a + b] == new_id
        assert tok.id_to_token(new_id) == a + b
        assert tok.token_to_id(a + b) == new_id
    assert tok.token_to_id(EOT) == 698
    assert tok.token_to_id(b"no such token in this vocabulary") is None
    assert tok.id_to_token(65) == b"A"


def test_vocab_size_with_only_bytes_and_specials():
    tok = bp.train(fixture_path("ties"), 258, special_tokens=["<a>", "<b>"])
    assert tok.merges == [] and tok.vocab_size == 258
    assert tok.special_tokens == {"<a>": 256, "<b>": 257}


def test_train_stats():
    path = fixture_path("en_kjv")
    tok = bp.train(path, 1000)
    stats = tok.train_stats
    assert set(stats) >= {"bytes_per_token", "corpus_bytes", "distinct_pretokens",
                          "seconds_count", "seconds_merge"}
    assert stats["corpus_bytes"] == path.stat().st_size
    assert stats["distinct_pretokens"] == len(set(ref.pretokenize(fixture_text("en_kjv"), "o200k")))
    n_tokens = len(ref.encode(fixture_text("en_kjv"), tok.merges))
    assert stats["bytes_per_token"] == pytest.approx(path.stat().st_size / n_tokens, rel=1e-3)
    assert stats["seconds_count"] >= 0 and stats["seconds_merge"] >= 0


# ---- determinism: threads, file splits, file vs iterator -----------------------------------


@pytest.mark.parametrize("pattern", PATTERNS)
def test_threads_give_identical_merges(tmp_path, pattern):
    path = write(tmp_path, all_fixtures_text())
    one = bp.train(path, 2000, pattern=pattern, num_threads=1).merges
    for threads in (2, 3, 8, None):
        assert_same_merges(bp.train(path, 2000, pattern=pattern, num_threads=threads).merges, one)
    assert_same_merges(one, ref.train([all_fixtures_text()], 2000, pattern)[0])


@pytest.mark.parametrize("pattern", PATTERNS)
def test_split_files_equal_one_file(tmp_path, pattern):
    text = all_fixtures_text()
    whole = bp.train(write(tmp_path, text), 2000, pattern=pattern, special_tokens=[EOT])
    parts = [write(tmp_path, part, f"part{i}.txt") for i, part in enumerate(safe_split(text, 9))]
    for threads in (1, None):
        split = bp.train(parts, 2000, pattern=pattern, special_tokens=[EOT], num_threads=threads)
        assert_same_merges(split.merges, whole.merges)
    assert_same_merges(bp.train(tuple(map(str, parts)), 2000, pattern=pattern,
                                special_tokens=[EOT]).merges, whole.merges)


@pytest.mark.parametrize("name", FIXTURES)
def test_file_equals_iterator_of_whole_text(name):
    path = fixture_path(name)
    from_file = bp.train(path, 1500).merges
    assert_same_merges(bp.train_from_iterator([fixture_text(name)], 1500).merges, from_file)
    assert_same_merges(bp.train(iter([fixture_text(name)]), 1500).merges, from_file)


def test_shared_corpus_threads_and_splits(tmp_path, shared_corpus):
    # A few MB of mixed real text: English, code and CJK, so chunking and parallel counting matter.
    pieces = [("en.txt", 2_000_000), ("code/rust.txt", 700_000), ("code/python.txt", 700_000),
              ("langs/zh.txt", 500_000), ("langs/ru.txt", 500_000)]
    text = ""
    for name, size in pieces:
        data = (shared_corpus / name).read_bytes()[:size]
        text += data[: data.rindex(b"\n") + 1].decode()
    path = write(tmp_path, text)
    one = bp.train(path, 5000, num_threads=1, special_tokens=[EOT])
    assert one.vocab_size == 5000
    assert_same_merges(bp.train(path, 5000, special_tokens=[EOT]).merges, one.merges)
    parts = [write(tmp_path, p, f"p{i}.txt") for i, p in enumerate(safe_split(text, 13))]
    assert_same_merges(bp.train(parts, 5000, special_tokens=[EOT]).merges, one.merges)
    assert_same_merges(bp.train_from_iterator([text], 5000, special_tokens=[EOT]).merges,
                       one.merges)
