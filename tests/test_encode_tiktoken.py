"""Encoding equals tiktoken, id for id, on the real cl100k_base, o200k_base and r50k (gpt2) rank
files: every file of the shared corpus (its first MB, to keep CI short), random Unicode text,
edge cases, special tokens; and decode(encode(x)) == x.

Needs ../shared/vocab (the rank files) next to the repository; skipped with the reason otherwise.
tiktoken is loaded offline from the same files.
"""

from __future__ import annotations

import gc
import sys
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

import bytepair
import numpy as np
import pytest
from helpers import has_reserve, released
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

tiktoken = pytest.importorskip("tiktoken")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
VOCAB = SHARED / "vocab"
CORPUS = SHARED / "corpus"
#: encoding name -> (rank file, bytepair pattern preset)
ENCODINGS = {
    "cl100k_base": ("cl100k_base.tiktoken", "cl100k"),
    "o200k_base": ("o200k_base.tiktoken", "o200k"),
    "r50k_base": ("gpt2.tiktoken", "gpt2"),
}
HEAD_BYTES = 1 << 20


def _tiktoken_encoding(name: str) -> Any:
    """The real tiktoken encoding `name`, its ranks read from ../shared/vocab (no network)."""
    import tiktoken.load
    import tiktoken_ext.openai_public as op

    path = VOCAB / ENCODINGS[name][0]
    orig = op.load_tiktoken_bpe
    op.load_tiktoken_bpe = lambda *a, **k: tiktoken.load.load_tiktoken_bpe(str(path))
    try:
        spec = getattr(op, name)()
    finally:
        op.load_tiktoken_bpe = orig
    return tiktoken.Encoding(**spec)


@cache
def pair(name: str) -> tuple[Any, bytepair.Tokenizer]:
    if not (VOCAB / ENCODINGS[name][0]).is_file():
        pytest.skip(f"rank file {ENCODINGS[name][0]} not found in {VOCAB}")
    tt = _tiktoken_encoding(name)
    bp = bytepair.Tokenizer.from_tiktoken(
        VOCAB / ENCODINGS[name][0], ENCODINGS[name][1], dict(tt._special_tokens)
    )
    return tt, bp


def corpus_files() -> list[Path]:
    return sorted(CORPUS.rglob("*.txt")) if CORPUS.is_dir() else []


def head(path: Path, n: int = HEAD_BYTES) -> str:
    return path.read_bytes()[:n].decode("utf-8", errors="ignore")


def check(tt: Any, bp: bytepair.Tokenizer, text: str) -> None:
    want = tt.encode_ordinary(text)
    got = bp.encode_ordinary(text)
    if got != want:
        pairs = enumerate(zip(got, want, strict=False))
        i = next((i for i, (a, b) in pairs if a != b), min(len(got), len(want)))
        ctx = tt.decode(want[max(0, i - 5) : i + 5])
        raise AssertionError(f"first difference at token {i} near {ctx!r}")
    assert bp.decode(got) == text


NAMES = list(ENCODINGS)


@pytest.mark.parametrize("name", NAMES)
def test_corpus_equals_tiktoken(name: str) -> None:
    files = corpus_files()
    if not files:
        pytest.skip(f"shared corpus not found at {CORPUS}")
    tt, bp = pair(name)
    for f in files:
        text = head(f)
        want = tt.encode_ordinary(text)
        assert bp.encode_ordinary(text) == want, f.name
        assert bp.encode(text, disallowed_special=()) == want, f.name
        # The batch and flat forms give the same ids (paragraphs of the file).
        paras = text.split("\n\n")[:400]
        wants = tt.encode_ordinary_batch(paras)
        assert bp.encode_batch(paras, num_threads=2, disallowed_special=()) == wants, f.name
        ids, offsets = bp.encode_batch_numpy(paras, num_threads=2, disallowed_special=())
        assert offsets.dtype == np.int64 and ids.dtype == np.uint32
        assert len(offsets) == len(paras) + 1
        assert ids.tolist() == [i for w in wants for i in w]
        assert np.diff(offsets).tolist() == [len(w) for w in wants]
        assert bp.decode_bytes(want) == text.encode("utf-8")


@pytest.mark.parametrize("name", NAMES)
def test_parallel_single_text_equals_sequential(name: str) -> None:
    """A >= 1 MB text is cut into chunks for threads; the ids must not change."""
    files = corpus_files()
    if not files:
        pytest.skip(f"shared corpus not found at {CORPUS}")
    tt, bp = pair(name)
    for f in files[:4]:
        text = head(f, 3 << 20)
        seq = bp.encode(text, disallowed_special=(), num_threads=1)
        assert bp.encode(text, disallowed_special=(), num_threads=2) == seq, f.name
        assert bp.encode(text, disallowed_special=(), num_threads=7) == seq, f.name
    assert seq == tt.encode_ordinary(text)


def test_parallel_list_with_specials_and_reference_counts() -> None:
    """The parallel path encodes chunks out of order on several threads: the ids, the specials
    between chunks and the references to the shared int objects must come out right (each
    slot holds one, taken from the int's reserve: see `helpers.released`)."""
    files = corpus_files()
    if not files:
        pytest.skip(f"shared corpus not found at {CORPUS}")
    tt, bp = pair("cl100k_base")
    part = head(files[0], 1 << 20)
    text = part + "<|endoftext|>" + part[::-1] + "<|endoftext|>"
    want = tt.encode(text, allowed_special="all")
    first = bp.encode(text, allowed_special="all", num_threads=2)
    assert first == want
    for k in (1000, len(want) // 2, len(want) - 1):
        probe = first[k]  # bytepair's lists share one int object per id
        assert has_reserve(probe)
        before = sys.getrefcount(probe)
        again = bp.encode(text, allowed_special="all", num_threads=3)
        assert again == want
        assert again[k] is probe
        assert sys.getrefcount(probe) == before
        del again
        assert before - sys.getrefcount(probe) == released(want.count(probe))
    paras = [p for p in part.split("\n\n") if p]
    want_batch = [tt.encode_ordinary(p) for p in paras]
    probe = first[1000]
    before = sys.getrefcount(probe)
    batch = bp.encode_batch(paras, num_threads=2, disallowed_special=())
    assert batch == want_batch
    assert sys.getrefcount(probe) == before
    del batch
    occurrences = sum(ids.count(probe) for ids in want_batch)
    assert before - sys.getrefcount(probe) == released(occurrences)
    # the cyclic GC, paused while the lists are built, is left as it was found
    assert gc.isenabled()
    bp.encode_batch(paras[:3])
    assert gc.isenabled()
    gc.disable()
    try:
        bp.encode_batch(paras[:3])
        assert not gc.isenabled()
    finally:
        gc.enable()


def assert_first_error_in_text_order(encode: Any, paras: list[str]) -> None:
    """Two different disallowed tokens in a batch (neighbours, a few blocks apart, at both ends):
    the error is the first text's, whichever thread met it first."""
    for i, j in ((len(paras) // 3, len(paras) // 3 + 1), (200, 240), (10, len(paras) - 10)):
        two = paras[:]
        two[i] += " <|fim_prefix|>"
        two[j] += " <|endoftext|>"
        for threads in (2, 3):
            with pytest.raises(ValueError, match="fim_prefix"):
                encode(two, num_threads=threads)


def test_large_batch_lists_built_during_the_encoding() -> None:
    """A batch of >= 1 MB on threads: its lists are built by the calling thread between the
    blocks it encodes itself, while the workers encode theirs. Ids, references (one per slot),
    an error in the middle (nothing leaked: the lists built so far are freed) and the GC state
    must all come out right."""
    files = corpus_files()
    if not files:
        pytest.skip(f"shared corpus not found at {CORPUS}")
    tt, bp = pair("cl100k_base")
    paras = [p for p in head(files[0], 3 << 20).split("\n\n") if p]
    assert sum(len(p.encode("utf-8")) for p in paras) >= 1 << 20
    want = [tt.encode_ordinary(p) for p in paras]
    first = bp.encode_batch(paras, num_threads=2, disallowed_special=())
    assert first == want
    probe = max(set(first[0]), key=first[0].count)  # a frequent id, one shared int object
    probe = first[0][first[0].index(probe)]
    count = sum(ids.count(probe) for ids in want)
    assert has_reserve(probe)
    before = sys.getrefcount(probe)
    again = bp.encode_batch(paras, num_threads=3, disallowed_special=())
    assert again == want
    assert sys.getrefcount(probe) == before
    del again
    assert before - sys.getrefcount(probe) == released(count)
    bad = paras[:]
    bad[len(bad) // 2] += " <|endoftext|>"
    bp.encode_batch(paras, num_threads=2, disallowed_special=())  # (warm: no allocation left)
    blocks = sys.getallocatedblocks()
    for _ in range(3):
        with pytest.raises(ValueError, match="disallowed special token"):
            bp.encode_batch(bad, num_threads=2)
    # (the lists built before the error were freed: no Python object is left over)
    assert sys.getallocatedblocks() - blocks < 100
    assert gc.isenabled()
    assert_first_error_in_text_order(bp.encode_batch, paras)
    assert bp.encode_batch(bad, num_threads=2, allowed_special="all") == [
        tt.encode(p, allowed_special="all") for p in bad
    ]


def test_large_batch_numpy_on_threads() -> None:
    """A batch of thousands of texts (a list, a tuple) to numpy on 2 and 3 threads: ids and
    offsets, the first error in text order whichever thread met it, a text that cannot be read
    (raised before any error of the encoding) and the strs' reference counts (each read text's
    reference given back, also after an error) must all come out right."""
    files = corpus_files()
    if not files:
        pytest.skip(f"shared corpus not found at {CORPUS}")
    tt, bp = pair("cl100k_base")
    paras = [p for p in head(files[0], 3 << 20).split("\n\n") if p]
    assert len(paras) >= 4096  # (~50 blocks of texts)
    want = [tt.encode_ordinary(p) for p in paras]
    flat = [i for w in want for i in w]
    sample = paras[:: len(paras) // 50]
    counts = [sys.getrefcount(p) for p in sample]
    for threads in (2, 3):
        for texts in (paras, tuple(paras)):
            ids, offsets = bp.encode_batch_numpy(texts, num_threads=threads, disallowed_special=())
            assert ids.tolist() == flat
            assert np.diff(offsets).tolist() == [len(w) for w in want]
    del texts  # (the last tuple holds the strs too)
    assert [sys.getrefcount(p) for p in sample] == counts
    blocks = sys.getallocatedblocks()
    assert_first_error_in_text_order(bp.encode_batch_numpy, paras)
    late = len(paras) - 5
    for bad, error, match in (
        (5, TypeError, rf"texts\[{late}\] is int, not str"),
        ("lone \ud800 surrogate", UnicodeEncodeError, "surrogate"),
    ):
        texts = paras[:]
        texts[10] += " <|endoftext|>"  # (an encoding error before it: the reading's comes first)
        texts[late] = bad
        with pytest.raises(error, match=match):
            bp.encode_batch_numpy(texts, num_threads=2)
        del texts
    assert sys.getallocatedblocks() - blocks < 100
    assert [sys.getrefcount(p) for p in sample] == counts


def test_shared_ints_are_one_object_per_id_for_the_process() -> None:
    """Every list of every tokenizer holds the same int object for an id (made once, holding a
    reserve of references or immortal), whatever path built the list, and it stays correct
    through any number of lists made and freed."""
    _, a = pair("cl100k_base")
    b = bytepair.Tokenizer.from_tiktoken(VOCAB / "cl100k_base.tiktoken", "cl100k")
    text = "The cat sat on the mat. " * 50_000  # 1.2 MB: the parallel paths
    one = a.encode(text, disallowed_special=())
    for got in (
        b.encode(text, disallowed_special=(), num_threads=2),
        b.encode_ordinary(text[:100]),
        a.encode_batch([text[:100], text], num_threads=2, disallowed_special=())[1],
        a.encode_batch(text.split(". "), num_threads=2, disallowed_special=())[2],
        a.encode_batch(text.split(". "), num_threads=1, disallowed_special=())[3],
    ):
        assert all(x is one[one.index(x)] for x in got[:20])
    assert all(has_reserve(x) for x in set(one))
    for _ in range(30):
        del one[:]
        one = a.encode(text, disallowed_special=(), num_threads=2)
    assert one[:6] == [791, 8415, 7731, 389, 279, 5634] and all(has_reserve(x) for x in set(one))


def test_single_thread_list_reference_counts() -> None:
    """One thread: a large list's item array is written directly, each slot taking over one of
    the shared int's reserved references. Every slot must hold exactly one reference, given
    back on `del`, small ids (Python's cached ints, immortal from 3.12 on) included, and the
    list must behave as any list."""
    tt, bp = pair("cl100k_base")
    words = ["the", " cat", " sat", " on", " mat", ",", " 42", "\n", " Ω", " 猫", "!"]
    text = "".join(words[(i * 7) % len(words)] + words[(i * 3) % len(words)] for i in range(40_000))
    want = tt.encode_ordinary(text)
    assert len(want) > 1 << 14  # a large list: its item array is written directly
    for call in (
        lambda: bp.encode_ordinary(text),
        lambda: bp.encode(text, disallowed_special=()),
        lambda: bp.encode(text, disallowed_special=(), num_threads=2),
    ):
        first = call()
        assert first == want
        small = next(i for i in first if i < 256)
        large = max(set(first), key=first.count)
        for probe in (first[first.index(small)], first[first.index(large)]):
            assert has_reserve(probe)
            before = sys.getrefcount(probe)
            again = call()
            assert again == want
            assert sys.getrefcount(probe) == before
            # (a large list's item array is written directly: it must behave as any list)
            again.append(-1)
            again.extend(range(3))
            assert again.pop() == 2 and again[len(want)] == -1
            assert sys.getsizeof(again) < sys.getsizeof([]) + 8 * (len(again) * 9 // 8 + 1024)
            del again[len(want) :]
            assert again == want and sorted(again)[-1] == max(want)
            del again
            assert before - sys.getrefcount(probe) == released(want.count(probe))


def test_list_of_over_a_million_ids() -> None:
    """A list of over a million ids: its item array (over 8 MB) is advised to the kernel for huge
    pages before it is written (`advise_huge_pages`). The hint must change nothing: the same ids
    as tiktoken, one reference per slot, and a list that grows, shrinks and dies as any."""
    tt, bp = pair("o200k_base")
    words = [" the", " cat", " sat", ",", " 42", "\n", " Ω", " 猫", "!", " on", " mat"]
    text = "".join(words[(i * 7) % len(words)] for i in range(1_200_000))
    want = tt.encode_ordinary(text)
    assert len(want) * 8 > 8 << 20
    for threads in (1, 2):
        got = bp.encode(text, disallowed_special=(), num_threads=threads)
        assert got == want
        # (the object in bytepair's list: tiktoken's ints are other objects of equal value)
        probe = got[got.index(max((i for i in set(want[:1000]) if i > 256), key=want.count))]
        before = sys.getrefcount(probe)
        again = bp.encode(text, disallowed_special=(), num_threads=threads)
        assert sys.getrefcount(probe) == before
        again.extend(range(1000))
        del again[len(want) :]
        assert again == want
        del again
        assert before - sys.getrefcount(probe) == released(want.count(probe))


def test_parallel_list_is_an_ordinary_list() -> None:
    """With threads, a large text's list is built from the chunks the threads encoded, its item
    array written directly by the threads. On text with more tokens than bytes / 4 (CJK), the
    result must behave as any list: equal ids, a size that is its length, references given back
    on `del`, and append / pop / slicing / sorting."""
    tt, bp = pair("cl100k_base")
    cjk = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(400_000))  # 1.2 MB
    want = tt.encode_ordinary(cjk)
    assert len(want) > len(cjk.encode("utf-8")) // 4
    ids = bp.encode(cjk, disallowed_special=(), num_threads=2)
    assert ids == want
    probe = ids[len(ids) // 2]
    before = sys.getrefcount(probe)
    again = bp.encode(cjk, disallowed_special=(), num_threads=2)
    assert sys.getrefcount(probe) == before
    assert sys.getsizeof(again) < sys.getsizeof([]) + 8 * (len(again) + len(again) // 8 + 1024)
    again.append(-1)
    again.extend(range(3))
    assert again[-4:] == [-1, 0, 1, 2] and again.pop() == 2
    assert again[: len(want)] == want and sorted(again)[0] == -1
    del again[len(want) :]
    assert again == want
    del again
    assert before - sys.getrefcount(probe) == released(want.count(probe))


EDGE_CASES = [
    "",
    " ",
    "a",
    "\r\n",
    "\r\n" * 50,
    "\n\n\n \n\t\r\n  x",
    " " * 1000,
    " " * 1000 + "x",
    "\t" * 77 + " y",
    "1234567890 12 3 4444 123456789012345678901234567890",
    "٣٤٥ ๑๒๓ 1.5e10 $100,000.00",
    "I'm you're he'll they've we'd it's DON'T Can'T 'S 'll",
    "e\u0301 n\u0303 a\u0308\u0308\u0308 \u0915\u094d\u0937",
    "👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️",
    "\ufffd\ufffd x\ufffd",
    "café naïve résumé Ωmega ΣΑΣ straße",
    "HTTPServerError getURLForID XMLHttpRequest",
    "   leading and trailing   ",
    "a\u00a0b\u2003c\u3000d",
    "<|endoftext|> is plain text here",
    "x" * 5000,
    "ab" * 3000,
    "aaaa" + "\u0301" * 300,
]


@pytest.mark.parametrize("name", NAMES)
def test_edge_cases(name: str) -> None:
    tt, bp = pair(name)
    for text in EDGE_CASES:
        check(tt, bp, text)


@pytest.mark.parametrize("name", NAMES)
def test_lone_surrogates_via_errors(name: str) -> None:
    """A str with a lone surrogate is not UTF-8: like tiktoken, encode it after replacing."""
    tt, bp = pair(name)
    bad = "ok \ud800 done"
    fixed = bad.encode("utf-8", errors="replace").decode("utf-8")
    check(tt, bp, fixed)
    with pytest.raises((UnicodeEncodeError, ValueError)):
        bp.encode_ordinary(bad)


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_one_megabyte_of_one_character(name: str) -> None:
    tt, bp = pair(name)
    for ch in ("a", " ", "7", "\n", "é"):
        text = ch * (1 << 20)
        ids = bp.encode_ordinary(text)
        assert bp.decode(ids) == text
        # tiktoken is quadratic on letter runs and its regex overflows the stack on a megabyte
        # of whitespace: compare with it on a shorter run.
        short = ch * 20_000
        assert bp.encode_ordinary(short) == tt.encode_ordinary(short), repr(ch)


def _assigned(c: str) -> bool:
    return unicodedata.category(c) not in ("Cn", "Cs")


UNICODE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)).filter(_assigned), max_size=200
)
ASCII_MIX = st.text(alphabet=st.sampled_from(list("ab1 \n\r\t'.-_éß中👍")), max_size=300)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(UNICODE, ASCII_MIX))
def test_random_unicode_equals_tiktoken(name: str, text: str) -> None:
    tt, bp = pair(name)
    check(tt, bp, text)


# ---- special tokens ------------------------------------------------------------------------

EOT = "<|endoftext|>"


@pytest.mark.parametrize("name", NAMES)
def test_special_tokens_like_tiktoken(name: str) -> None:
    tt, bp = pair(name)
    text = f"hello {EOT} world{EOT}{EOT}x <|endof"
    for kw in (
        {"allowed_special": "all"},
        {"allowed_special": {EOT}},
        {"disallowed_special": ()},
        {"allowed_special": set(), "disallowed_special": ()},
    ):
        want = tt.encode(text, **kw)
        assert bp.encode(text, **kw) == want, kw
        assert bp.count_tokens(text, **kw) == len(want)
        assert bp.encode_batch([text, "plain"], **kw) == tt.encode_batch([text, "plain"], **kw)
        ids, _ = bp.encode_batch_numpy([text], **kw)
        assert ids.tolist() == want
    for fn in (
        lambda: bp.encode(text),
        lambda: bp.count_tokens(text),
        lambda: bp.encode_batch(["fine", text]),
        lambda: bp.encode_batch_numpy([text]),
        lambda: bp.encode(text, allowed_special=set(), disallowed_special={EOT}),
    ):
        with pytest.raises(ValueError, match="disallowed special token"):
            fn()
    with pytest.raises(ValueError):
        tt.encode(text)
    assert bp.decode(bp.encode(text, allowed_special="all")) == text


@pytest.mark.parametrize("name", NAMES)
def test_decode_batch_and_invalid_ids(name: str) -> None:
    tt, bp = pair(name)
    texts = ["hello world", "", "日本語 テキスト", "👍"]
    assert bp.decode_batch([bp.encode(t) for t in texts]) == texts
    assert bp.decode_batch([tt.encode(t) for t in texts]) == texts
    ids, offsets = bp.encode_batch_numpy(texts)
    assert bp.decode_batch([ids[offsets[i] : offsets[i + 1]] for i in range(len(texts))]) == texts
    # the arrays are the caller's: writable, not views of an immutable buffer
    assert ids.flags.writeable and offsets.flags.writeable
    ids[0] = ids[1]
    offsets[-1] += 0
    for bad in ([bp.vocab_size + 5], [-1], [2**40], [1, 2, 10**9]):
        with pytest.raises(ValueError, match="invalid token id"):
            bp.decode(bad)
        with pytest.raises(ValueError, match="invalid token id"):
            bp.decode_batch([[1], bad])


def test_count_tokens_and_threads_argument() -> None:
    tt, bp = pair("cl100k_base")
    text = "The quick brown fox jumps over the lazy dog. " * 100
    assert bp.count_tokens(text) == len(tt.encode(text))
    assert bp.encode_batch([text] * 10, num_threads=1) == [tt.encode(text)] * 10
    assert bp.encode_batch([text] * 10, num_threads=None) == [tt.encode(text)] * 10
    assert bp.encode_batch([]) == []
    ids, offsets = bp.encode_batch_numpy([])
    assert ids.tolist() == [] and offsets.tolist() == [0]
    with pytest.raises(TypeError):
        bp.encode_batch("not a list")  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
