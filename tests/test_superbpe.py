"""SuperBPE (``bytepair.train_superbpe``): an obviously-correct reference, stage 1 = ``train``,
the superword constraints, determinism, round trip, HF ``tokenizers`` equality, errors, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
import reference_bpe as ref
import regex
from helpers import assert_same_merges, fixture_path, fixture_text, paragraphs

bp = pytest.importorskip("bytepair")

STAGE2 = r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]{2,}[\r\n/]*| +(?!\S)"


def split_isolated(text: str, pattern: str = STAGE2) -> list[str]:
    """HF's ``Split(pattern, "Isolated")``: every match, and the text between matches."""
    out, last = [], 0
    for m in regex.finditer(pattern, text):
        if m.start() > last:
            out.append(text[last : m.start()])
        out.append(m.group())
        last = m.end()
    if last < len(text):
        out.append(text[last:])
    return out


def n_words(token: bytes) -> int:
    """The reference trainer's rule: parts left by splitting at the space byte, non-empty."""
    return len([p for p in token.split(b" ") if p])


def reference_superbpe(texts: list[str], vocab_size: int, transition: int, pattern: str = "o200k",
                       max_words: int | None = 4, no_colon_space: bool = True,
                       min_frequency: int = 2) -> list[tuple[bytes, bytes]]:
    """SuperBPE word for word: stage 1 is the reference BPE to ``transition``; stage 2 splits the
    documents with the stage-2 delimiters, applies every stage-1 merge in order to every piece
    (each merge everywhere, left to right), then repeatedly merges the most frequent allowed pair
    (ties: smallest ids), recounting everything at each step."""
    merges, vocab = ref.train(texts, transition, pattern, min_frequency=min_frequency)
    id_bytes = sorted(vocab, key=vocab.__getitem__)
    counts = Counter(p.encode() for t in texts for p in split_isolated(t))
    words = {tuple(w): c for w, c in counts.items()}
    for a, b in merges:
        pair, new = (vocab[a], vocab[b]), vocab[a + b]
        words = _merge_all(words, pair, new)
    out = list(merges)
    while len(id_bytes) < vocab_size:
        pairs: Counter[tuple[int, int]] = Counter()
        for w, c in words.items():
            for p in pairwise(w):
                pairs[p] += c
        best = None
        for p, c in pairs.items():
            tok = id_bytes[p[0]] + id_bytes[p[1]]
            if max_words is not None and n_words(tok) > max_words:
                continue
            if no_colon_space and b": " in tok:
                continue
            if c >= max(min_frequency, 1) and (best is None or (-c, p) < (-best[1], best[0])):
                best = (p, c)
        if best is None:
            break
        p = best[0]
        tok = id_bytes[p[0]] + id_bytes[p[1]]
        out.append((id_bytes[p[0]], id_bytes[p[1]]))
        if tok not in vocab:
            vocab[tok] = len(id_bytes)
            id_bytes.append(tok)
        words = _merge_all(words, p, vocab[tok])
    return out


def _merge_all(words: dict[tuple[int, ...], int], pair: tuple[int, int],
               new: int) -> dict[tuple[int, ...], int]:
    out: dict[tuple[int, ...], int] = {}
    for w, c in words.items():
        m = ref._merge_word(w, pair, new)
        out[m] = out.get(m, 0) + c
    return out


def small_docs() -> list[str]:
    text = fixture_text("en_kjv")[:20_000] + fixture_text("code_python")[:6_000]
    return paragraphs(text)


@pytest.mark.parametrize(("max_words", "colon", "pattern"),
                         [(4, True, "o200k"), (2, True, "gpt2"), (None, False, "cl100k")])
def test_equals_reference(max_words, colon, pattern):
    docs = small_docs()
    want = reference_superbpe(docs, 560, 400, pattern, max_words, colon)
    tok = bp.train_superbpe(iter(docs), 560, 400, pattern=pattern, max_words=max_words,
                            no_colon_space=colon, progress=False)
    assert_same_merges(tok.merges, want)
    assert tok.pattern == STAGE2


def stage2_tokens(tok, transition: int) -> list[bytes]:
    merges = tok.merges
    k = len(bp.train([str(fixture_path("en_kjv"))], transition, progress=False).merges)
    return [a + b for a, b in merges[k:]]


def test_stage1_is_train_and_constraints_hold():
    path = str(fixture_path("en_kjv"))
    plain = bp.train([path], 1000, progress=False, special_tokens=["<|eot|>"])
    sup = bp.train_superbpe([path], 1500, 1000, progress=False, special_tokens=["<|eot|>"])
    k = len(plain.merges)
    assert_same_merges(sup.merges[:k], plain.merges)
    assert sup.vocab_size == 1500 and sup.special_tokens == {"<|eot|>": 1499}
    new = [a + b for a, b in sup.merges[k:]]
    assert len(new) > 300
    assert all(n_words(t) <= 4 and b": " not in t for t in new)
    assert max(n_words(t) for t in new) >= 3  # it does learn superwords
    two = bp.train_superbpe([path], 1500, 1000, max_words=2, progress=False)
    assert all(n_words(a + b) <= 2 for a, b in two.merges[k:])


def test_deterministic_across_threads_and_inputs():
    path = str(fixture_path("code_rust"))
    runs = [bp.train_superbpe([path], 900, 500, num_threads=n, progress=False).merges
            for n in (1, 2, 4)]
    assert runs[0] == runs[1] == runs[2]
    # the same text as one document through the iterator path
    text = fixture_path("code_rust").read_text(encoding="utf-8")
    assert bp.train_superbpe(iter([text]), 900, 500, progress=False).merges == runs[0]


def test_approximations_keep_the_constraints():
    path = str(fixture_path("en_kjv"))
    exact = bp.train_superbpe([path], 1200, 800, progress=False).merges
    assert bp.train_superbpe([path], 1200, 800, prune_below=1, progress=False).merges == exact
    for kw in ({"prune_below": 3}, {"max_pretoken_words": 6}):
        tok = bp.train_superbpe([path], 1200, 800, progress=False, **kw)
        assert tok.merges[:500] == exact[:500]  # stage 1 untouched
        assert all(n_words(a + b) <= 4 and b": " not in a + b for a, b in tok.merges[544:])


def test_round_trip_and_encoding_matches_reference_encoder():
    tok = bp.train_superbpe([str(fixture_path("en_kjv"))], 1000, 600, progress=False)
    for name in ("en_kjv", "code_python", "zh", "ja"):
        text = fixture_text(name)[:8000]
        ids = tok.encode(text)
        assert tok.decode(ids) == text
        # rank-ordered merges over the stage-2 pieces, by the slow reference encoder
        want = [i for piece in split_isolated(text) for i in ref.encode(piece, tok.merges, "none")]
        assert ids == want


def test_hf_tokenizers_loads_and_encodes_identically(tmp_path, shared_corpus_files):
    tokenizers = pytest.importorskip("tokenizers")
    en = next(f for f in shared_corpus_files if f.name == "en.txt")
    docs = paragraphs(en.read_text(encoding="utf-8")[:400_000])
    tok = bp.train_superbpe(iter(docs), 3000, 2000, progress=False)
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    hf = tokenizers.Tokenizer.from_file(str(path))
    again = bp.Tokenizer.from_file(path)
    assert again.merges == tok.merges and again.pattern == STAGE2
    assert again.pretokenizer == "superbpe"  # the file's regex maps back to the scanner
    for f in shared_corpus_files:
        docs = paragraphs(f.read_text(encoding="utf-8")[:150_000])
        ours = tok.encode_batch(docs)
        theirs = [e.ids for e in hf.encode_batch(docs, add_special_tokens=False)]
        bad = [i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b]
        assert not bad, f"{f.name}: document {bad[0]} differs"
        assert again.encode_batch(docs) == ours


def test_bad_arguments():
    path = str(fixture_path("ties"))
    with pytest.raises(ValueError, match="transition"):
        bp.train_superbpe([path], 300, 301)
    with pytest.raises(ValueError, match="transition"):
        bp.train_superbpe([path], 300, 200)
    with pytest.raises(ValueError, match="max_words"):
        bp.train_superbpe([path], 300, 280, max_words=0)
    with pytest.raises(ValueError, match="prune_below"):
        bp.train_superbpe([path], 300, 280, prune_below=-1)
    with pytest.raises(TypeError):
        bp.train_superbpe(b"bytes", 300, 280)
    with pytest.raises(FileNotFoundError):
        bp.train_superbpe(["/nonexistent/x.txt"], 300, 280)
    with pytest.raises(ValueError, match="pattern"):
        bp.train_superbpe([path], 300, 280, stage2_pattern="(")
    with pytest.raises(ValueError, match="empty"):
        bp.train_superbpe(iter([""]), 300, 280)


def _cli(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "bytepair"
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "bytepair"]
    return subprocess.run([*cmd, "train", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, check=False)


def test_cli(tmp_path):
    path = fixture_path("en_kjv")
    out = tmp_path / "sup.json"
    r = _cli(path, "--superbpe", "--transition", 700, "--vocab-size", 900, "--max-words", 3,
             "-o", out, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["superbpe"]["transition"] == 700 and summary["vocab_size"] == 900
    tok = bp.Tokenizer.from_file(out)
    want = bp.train_superbpe([str(path)], 900, 700, max_words=3, progress=False)
    assert tok.merges == want.merges
    r = _cli(path, "--superbpe", cwd=tmp_path)
    assert r.returncode == 2 and "--transition" in r.stderr
