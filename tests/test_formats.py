"""Encoding, decoding and the file formats: bytepair's ids must equal HF tokenizers' and tiktoken's
on the files bytepair writes, and the reference encoder's."""

from __future__ import annotations

import functools
import json
import pickle

import pytest
import reference_bpe as ref
from helpers import EOT, FIXTURES, PATTERNS, all_fixtures_text, fixture_text, with_eot
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

bp = pytest.importorskip("bytepair")
tokenizers = pytest.importorskip("tokenizers")
tiktoken_load = pytest.importorskip("tiktoken.load")
tiktoken = pytest.importorskip("tiktoken")

SPECIALS = [EOT, "<|pad|>"]


@functools.cache
def trained(pattern: str):
    """A tokenizer trained on all the fixtures (a few hundred KB of mixed text)."""
    return bp.train_from_iterator([all_fixtures_text()], 3000, pattern=pattern,
                                  special_tokens=SPECIALS)


class Saved(dict):
    def __repr__(self) -> str:  # keeps hypothesis' failure reports short
        return "<saved tokenizers>"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """pattern -> (bytepair tokenizer, HF tokenizer loaded from its save(), tiktoken Encoding)."""
    folder = tmp_path_factory.mktemp("saved")
    return Saved({p: load_both(trained(p), folder, p) for p in PATTERNS})


def load_both(tok, folder, name):
    json_path, tiktoken_path = folder / f"{name}.json", folder / f"{name}.tiktoken"
    tok.save(json_path)
    tok.save_tiktoken(tiktoken_path)
    hf = tokenizers.Tokenizer.from_file(str(json_path))
    return tok, hf, tiktoken_encoding(tok, tiktoken_path)


def tiktoken_encoding(tok, path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIKTOKEN_CACHE_DIR", "")  # tiktoken would cache the file by its path
        ranks = tiktoken_load.load_tiktoken_bpe(str(path))
    return tiktoken.Encoding("bytepair-test", pat_str=tok.pattern, mergeable_ranks=ranks,
                             special_tokens=tok.special_tokens)


def first_diff(a: list[int], b: list[int]) -> str:
    i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return f"ids differ at {i}: {a[i:i + 5]} vs {b[i:i + 5]} (lengths {len(a)}, {len(b)})"


def assert_same_ids(got: list[int], want: list[int]) -> None:
    assert got == want, first_diff(got, want)


# ---- the three encoders agree --------------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("pattern", PATTERNS)
def test_fixture_ids_equal_hf_tiktoken_and_reference(saved, pattern, name):
    tok, hf, tt = saved[pattern]
    text = fixture_text(name)
    ids = tok.encode(text)
    assert_same_ids(hf.encode(text, add_special_tokens=False).ids, ids)
    assert_same_ids(tt.encode(text), ids)
    assert_same_ids(ref.encode(text, tok.merges, pattern), ids)
    assert tok.encode_ordinary(text) == ids
    assert tok.decode(ids) == text
    assert tok.decode_bytes(ids) == text.encode()


@pytest.fixture(scope="module")
def shared_tokenizers(shared_corpus_files, tmp_path_factory):
    """Per pattern: a tokenizer trained on 200 KB of each shared corpus file, saved, reloaded."""
    folder = tmp_path_factory.mktemp("shared")
    texts = [head(p) for p in shared_corpus_files]
    return {p: load_both(bp.train_from_iterator(texts, 8000, pattern=p, special_tokens=[EOT]),
                         folder, p) for p in PATTERNS}


def head(path, size=200_000) -> str:
    data = path.read_bytes()[:size]
    return data[: data.rindex(b"\n") + 1].decode()


@pytest.mark.parametrize("pattern", PATTERNS)
def test_shared_corpus_ids_equal_hf_and_tiktoken(shared_tokenizers, shared_corpus_files, pattern):
    tok, hf, tt = shared_tokenizers[pattern]
    for path in shared_corpus_files:
        # Held-out text: the 200 KB after the training part.
        data = path.read_bytes()[200_000:400_000]
        text = data[data.index(b"\n") + 1 : data.rindex(b"\n") + 1].decode()
        ids = tok.encode(text)
        assert hf.encode(text, add_special_tokens=False).ids == ids, f"{path.name}: HF differs"
        assert tt.encode(text) == ids, f"{path.name}: tiktoken differs"
        assert tok.decode(ids) == text, f"{path.name}: round trip"


@pytest.mark.parametrize("pattern", PATTERNS)
def test_special_tokens_encode_like_tiktoken_and_hf(saved, pattern):
    tok, hf, tt = saved[pattern]
    text = with_eot(fixture_text("en_kjv"), every=7) + "<|pad|>x" + EOT
    ids = tok.encode(text, allowed_special="all")
    assert ids.count(tok.special_tokens[EOT]) == text.count(EOT)
    assert_same_ids(tt.encode(text, allowed_special="all"), ids)
    assert_same_ids(hf.encode(text, add_special_tokens=False).ids, ids)
    assert tok.decode(ids) == text
    assert tok.encode(text, allowed_special={EOT, "<|pad|>"}) == ids
    # Only EOT allowed: "<|pad|>" is disallowed (all specials are by default): error, as tiktoken.
    with pytest.raises(ValueError):
        tt.encode(text, allowed_special={EOT})
    with pytest.raises(ValueError):
        tok.encode(text, allowed_special={EOT})
    with pytest.raises(ValueError):
        tok.encode(text)
    # Ordinary encoding treats the specials as text; so does disallowed_special=().
    ordinary = tok.encode_ordinary(text)
    assert_same_ids(tt.encode_ordinary(text), ordinary)
    assert tok.encode(text, disallowed_special=()) == ordinary
    assert tok.special_tokens[EOT] not in ordinary
    assert tok.decode(ordinary) == text


def test_saved_json_is_a_hf_bpe_tokenizer(saved, tmp_path):
    tok, hf, _ = saved["o200k"]
    tok.save(tmp_path / "t.json")
    data = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))
    assert data["model"]["type"] == "BPE"
    assert len(data["model"]["merges"]) == len(tok.merges)
    assert hf.get_vocab_size(with_added_tokens=True) == tok.vocab_size
    added = {t["content"]: t["id"] for t in data["added_tokens"] if t["special"]}
    assert added == tok.special_tokens
    ids = tok.encode(fixture_text("code_rust"))
    assert hf.decode(ids) == fixture_text("code_rust")


@pytest.mark.parametrize("pattern", PATTERNS)
def test_from_file_round_trip(saved, tmp_path, pattern):
    tok = saved[pattern][0]
    tok.save(tmp_path / "t.json")
    back = bp.Tokenizer.from_file(tmp_path / "t.json")
    assert back.merges == tok.merges
    assert back.get_vocab() == tok.get_vocab()
    assert back.special_tokens == tok.special_tokens
    assert back.pattern == tok.pattern
    assert back.vocab_size == tok.vocab_size
    assert back.train_stats is None
    text = fixture_text("ja")
    assert back.encode(text) == tok.encode(text)
    back.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "t.json").read_bytes()


@pytest.mark.parametrize("pattern", [*PATTERNS, "none"])
def test_pickle_round_trip(pattern):
    tok = bp.train_from_iterator([fixture_text("code_python")], 700, pattern=pattern,
                                 special_tokens=SPECIALS)
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        back = pickle.loads(pickle.dumps(tok, protocol=protocol))
        assert back.merges == tok.merges
        assert back.get_vocab() == tok.get_vocab()
        assert back.special_tokens == tok.special_tokens
        assert back.pattern == tok.pattern
        assert back.vocab_size == tok.vocab_size
        text = fixture_text("code_rust") + EOT
        assert back.encode(text, allowed_special="all") == tok.encode(text, allowed_special="all")


def test_pickle_keeps_tiktoken_rank_rule(tmp_path):
    """A tokenizer loaded from a rank file merges by tiktoken's rule (any adjacent pair whose
    concatenation is a token, by that token's rank), which tokenizer.json cannot express; pickling
    carries the rule beside the JSON, so a worker process encodes exactly like the parent."""
    tok = bp.train_from_iterator([fixture_text("en_kjv")], 600, pattern="cl100k")
    tok.save_tiktoken(tmp_path / "t.tiktoken")
    ranked = bp.Tokenizer.from_file(tmp_path / "t.tiktoken", pattern="cl100k")
    assert tok.merge_rule == "merges"
    assert ranked.merge_rule == "ranks"
    text = fixture_text("code_rust")
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        back = pickle.loads(pickle.dumps(ranked, protocol=protocol))
        assert back.merge_rule == "ranks"
        assert back.encode_ordinary(text) == ranked.encode_ordinary(text)
    # Read back from its tokenizer.json alone, it follows HF's semantics (listed merges, whole
    # tokens first), as HF tokenizers does with that file.
    assert bp.Tokenizer.from_json(ranked.to_json()).merge_rule == "whole_then_merges"
    with pytest.raises(ValueError, match="unknown merge rule"):
        bp._core.Tokenizer.from_json(ranked.to_json(), "<x>", "fastest")


# ---- round trips and edge cases ------------------------------------------------------------


NO_FIXTURE_CHECK = settings(deadline=None,
                            suppress_health_check=[HealthCheck.function_scoped_fixture])
# Characters assigned in Python's Unicode database (14.0 for 3.11). Unassigned code points are
# left out: some are letters in newer Unicode versions, and the regex engines (Python's regex,
# Oniguruma in HF, Rust's regex tables) do not all use the same version.
ASSIGNED = st.characters(exclude_categories=("Cn", "Cs"))


@pytest.mark.parametrize("pattern", PATTERNS)
@settings(NO_FIXTURE_CHECK, max_examples=300)
@given(text=st.text(ASSIGNED, max_size=200))
@example(text=EOT)
@example(text=f"a{EOT}<|pad|> b")
def test_random_unicode_round_trip(saved, pattern, text):
    tok, hf, tt = saved[pattern]
    ids = tok.encode_ordinary(text)
    assert tok.decode(ids) == text
    assert tok.decode_bytes(ids) == text.encode()
    assert tt.encode_ordinary(text) == ids
    assert ref.encode(text, tok.merges, pattern) == ids
    # HF always matches added tokens in text (it has no "ordinary" encode): compare it with
    # bytepair's encode that allows them. (hypothesis draws the test module's string constants,
    # such as "<|endoftext|>", so this case does come up.)
    assert hf.encode(text, add_special_tokens=False).ids == tok.encode(text, allowed_special="all")


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=100))
def test_any_unicode_round_trip(text):
    # All code points, unassigned ones too: whatever the split, decoding gives the text back.
    for pattern in PATTERNS:
        tok = trained(pattern)
        assert tok.decode(tok.encode_ordinary(text)) == text


@pytest.mark.parametrize("pattern", PATTERNS)
@settings(NO_FIXTURE_CHECK, max_examples=200)
@given(words=st.lists(st.sampled_from(fixture_text("en_kjv").split(" ")[:3000]), max_size=40),
       seps=st.lists(st.sampled_from([" ", "  ", "\n", " \n", "\t", "", "'s ", "123", "\r\n"]),
                     min_size=40, max_size=40))
def test_random_real_words_equal_hf(saved, pattern, words, seps):
    text = "".join(w + s for w, s in zip(words, seps, strict=False))
    tok, hf, _ = saved[pattern]
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert hf.encode(text, add_special_tokens=False).ids == ids


@functools.cache
def runs_tokenizer():
    """Trained on long runs, so it has tokens for runs of 2, 4, ..., 512 copies of each unit."""
    units = ["a", " ", "\n", "的", "ab", "0"]
    return bp.train_from_iterator([u * 1024 for u in units], 2000, pattern="o200k")


@pytest.mark.parametrize("unit", ["a", " ", "\n", "的", "ab", "0", "x\t", "^"])
def test_catastrophically_repetitive(tmp_path, unit):
    text = unit * 20_000
    for tok in (trained("o200k"), runs_tokenizer()):
        tok.save_tiktoken(tmp_path / "t.tiktoken")
        tt = tiktoken_encoding(tok, tmp_path / "t.tiktoken")
        for t in (text, " " + text, text + "\n", "x" + text + "y"):
            assert tok.encode(t) == tt.encode(t)


def test_megabyte_of_one_letter():
    # Merging by rank turns 10**6 = 1953 * 512 + 64 letters into 1953 runs of 512 and one of 64.
    tok = runs_tokenizer()
    a512, a64 = tok.token_to_id(b"a" * 512), tok.token_to_id(b"a" * 64)
    assert a512 is not None and a64 is not None
    ids = tok.encode("a" * 1_000_000)
    assert ids == [a512] * 1953 + [a64]
    assert tok.decode(ids) == "a" * 1_000_000
    assert len(tok.encode(" " * 1_000_000)) < 2000


def test_decode_partial_utf8_replaces(saved):
    tok = saved["o200k"][0]
    raw = "é".encode()
    ids = [raw[0], ord("a")]
    assert tok.decode_bytes(ids) == bytes([raw[0]]) + b"a"
    assert tok.decode(ids) == "\ufffda"
    assert tok.decode([]) == "" and tok.encode("") == []


def test_bad_ids(saved):
    tok = saved["o200k"][0]
    with pytest.raises((IndexError, ValueError)):
        tok.id_to_token(tok.vocab_size + 10)
    with pytest.raises((IndexError, ValueError, OverflowError)):
        tok.id_to_token(-1)
