"""Bad input: clear exceptions, and nothing written on error."""

from __future__ import annotations

import gc
import itertools
import os
import sys
import threading

import pytest
import reference_bpe as ref
from helpers import (
    EOT,
    all_fixtures_text,
    assert_same_merges,
    fixture_path,
    fixture_text,
    paragraphs,
)

bp = pytest.importorskip("bytepair")


@pytest.fixture(scope="module")
def tok():
    return bp.train(fixture_path("en_kjv"), 600, special_tokens=[EOT])


# ---- training input -----------------------------------------------------------------------


def test_missing_file(tmp_path):
    missing = tmp_path / "no_such_file.txt"
    with pytest.raises(FileNotFoundError, match=r"no_such_file\.txt"):
        bp.train(missing, 1000)
    with pytest.raises(FileNotFoundError, match=r"no_such_file\.txt"):
        bp.train([fixture_path("en_kjv"), str(missing)], 1000)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises((OSError, ValueError)):
        bp.train(tmp_path, 1000)


@pytest.mark.parametrize("corpus", ["empty_file", "empty_list", "empty_docs", "no_docs"])
def test_empty_corpus(tmp_path, corpus):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    files = {"empty_file": [empty], "empty_list": [], "empty_docs": iter(["", ""]),
             "no_docs": iter([])}[corpus]
    with pytest.raises(ValueError):
        bp.train(files, 1000)


@pytest.mark.parametrize(("vocab_size", "specials"), [(255, []), (0, []), (256, [EOT]),
                                                     (257, [EOT, "<|pad|>"])])
def test_vocab_size_too_small(vocab_size, specials):
    with pytest.raises(ValueError):
        bp.train(fixture_path("ties"), vocab_size, special_tokens=specials)


def test_smallest_vocab_sizes_work():
    assert bp.train(fixture_path("ties"), 256).vocab_size == 256
    tok = bp.train(fixture_path("ties"), 258, special_tokens=[EOT, "<|pad|>"])
    assert tok.vocab_size == 258 and tok.merges == []


@pytest.mark.parametrize("specials", [[EOT, EOT], ["<a>", "<b>", "<a>"], [""], [EOT, ""]])
def test_bad_special_tokens(specials):
    with pytest.raises(ValueError):
        bp.train(fixture_path("ties"), 1000, special_tokens=specials)


# Not "a{2,1}": fancy-regex (bytepair's and tiktoken's engine) accepts it.
@pytest.mark.parametrize("pattern", ["(", "[a-", "[z-a]", "a**", "\\p{NoSuchClass}"])
def test_bad_pattern(pattern):
    with pytest.raises(ValueError):
        bp.train(fixture_path("ties"), 1000, pattern=pattern)


def test_bad_errors_argument():
    with pytest.raises(ValueError):
        bp.train(fixture_path("ties"), 1000, errors="ignore-please")


def test_min_frequency_zero_is_one():
    text = fixture_text("ties")
    assert_same_merges(bp.train_from_iterator([text], 900, min_frequency=0).merges,
                       ref.train([text], 900, min_frequency=1)[0])


# ---- invalid UTF-8 ------------------------------------------------------------------------


def invalid_utf8_cases():
    good = fixture_text("en_kjv").encode()
    big = good * 40  # ~2.4 MB: the bad byte lies past any internal chunk boundary
    return {
        "early": (b"hello\n\xff world\n", 6),
        "late": (big + b"tail \xc3\x28 more\n", len(big) + 5),
        "truncated_at_end": (good + "Gen\u00e8".encode()[:-1], len(good) + 3),
        "surrogate": (good[:1000] + b"\xed\xa0\x80x\n", 1000),
        "overlong": (b"ab\n" + b"\xc0\xaf" + good[:500], 3),
    }


@pytest.mark.parametrize("case", sorted(invalid_utf8_cases()))
def test_invalid_utf8_strict(tmp_path, case):
    data, offset = invalid_utf8_cases()[case]
    path = tmp_path / "bad-file.txt"
    path.write_bytes(data)
    with pytest.raises(ValueError) as info:
        bp.train(path, 1000)
    message = str(info.value)
    assert "bad-file.txt" in message
    assert f"byte offset {offset}" in message
    # errors="strict" is the default and can be given explicitly.
    with pytest.raises(ValueError, match=f"byte offset {offset}"):
        bp.train([fixture_path("ties"), path], 1000, errors="strict", num_threads=1)


@pytest.mark.parametrize("case", sorted(invalid_utf8_cases()))
def test_invalid_utf8_replace(tmp_path, case):
    data, _ = invalid_utf8_cases()[case]
    path = tmp_path / "bad-file.txt"
    path.write_bytes(data)
    tok = bp.train(path, 700, errors="replace")
    text = data.decode("utf-8", errors="replace")  # U+FFFD per maximal invalid subpart
    if len(data) < 200_000:
        assert_same_merges(tok.merges, ref.train([text], 700)[0])
    else:
        assert_same_merges(tok.merges, bp.train_from_iterator([text], 700).merges)


# ---- batch input --------------------------------------------------------------------------


def _batch_results(tok, make, threads):
    """encode_batch and encode_batch_numpy (as lists) of the batch `make()` gives."""
    ids, offsets = tok.encode_batch_numpy(make(), num_threads=threads)
    flat = [ids[a:b].tolist() for a, b in itertools.pairwise(offsets)]
    return tok.encode_batch(make(), num_threads=threads), flat


@pytest.mark.parametrize("threads", [1, 2])
def test_batch_accepts_any_iterable_of_str(tok, threads):
    # Above 1 MiB in all, so with 2 threads the batch takes the parallel paths (lists built
    # during the encoding, numpy copied on the threads).
    texts = paragraphs(all_fixtures_text()) * 8
    assert sum(len(t.encode()) for t in texts) > 1 << 20
    want = [tok.encode(t) for t in texts]
    for make in (lambda: texts, lambda: tuple(texts), lambda: iter(texts),
                 lambda: (t for t in texts)):
        lists, flat = _batch_results(tok, make, threads)
        assert lists == want and flat == want


def test_batch_iterates_sequence_subclasses(tok):
    """A list or tuple subclass is read the way Python iterates it (its own ``__iter__``)."""

    class Upper(list):
        def __iter__(self):
            return (t.upper() for t in list.__iter__(self))

    texts = Upper(["abc", "de"])
    want = [tok.encode("ABC"), tok.encode("DE")]
    assert tok.encode_batch(texts) == want
    ids, offsets = tok.encode_batch_numpy(texts)
    assert [ids[a:b].tolist() for a, b in itertools.pairwise(offsets)] == want


def test_batch_takes_no_reference_to_its_texts(tok):
    texts = [f"text number {i} " * 3 for i in range(2000)]
    before = [sys.getrefcount(t) for t in texts]
    for make in (lambda: texts, lambda: tuple(texts)):
        _batch_results(tok, make, 2)
    assert [sys.getrefcount(t) for t in texts] == before
    assert texts == [f"text number {i} " * 3 for i in range(2000)]


@pytest.mark.parametrize("method", ["encode_batch", "encode_batch_numpy"])
def test_batch_list_changed_while_encoding(tok, method):
    """The encoders read a list's strs once and hold them: another thread replacing the list's
    items meanwhile (GIL released) frees nothing the encoding reads. The replacements are new
    str objects with the same text (so the result cannot depend on when the thread runs), and
    the old ones' memory is reused by them: reading a freed str would read another text."""
    base = paragraphs(all_fixtures_text()) * 8
    want = tok.encode_batch(tuple(base), num_threads=2)

    def fresh(t: str) -> str:
        return "".join([t[:1], t[1:]])  # a new object, referenced by the list alone

    encode = getattr(tok, method)
    for _ in range(3):
        texts = [fresh(t) for t in base]
        stop = threading.Event()

        def churn(texts=texts, stop=stop):
            while not stop.is_set():
                for i in range(0, len(texts), 3):
                    texts[i] = fresh(base[i])  # drops the list's (only) reference to the old str

        t = threading.Thread(target=churn)
        t.start()
        try:
            got = encode(texts, num_threads=2)
        finally:
            stop.set()
            t.join()
        if method == "encode_batch_numpy":
            ids, offsets = got
            got = [ids[a:b].tolist() for a, b in itertools.pairwise(offsets)]
        assert got == want


def test_large_batch_lists_when_python_runs_out_of_memory(tok):
    """A batch above 1 MiB on 2 threads builds its lists while the workers encode; when Python
    cannot allocate one of them (MemoryError), the call raises it, the workers stop, and nothing
    is leaked: the lists built so far are freed, their slots' references given back."""
    capi = pytest.importorskip("_testcapi")
    if not hasattr(capi, "set_nomemory"):
        pytest.skip("this Python's _testcapi cannot make allocations fail")
    texts = paragraphs(all_fixtures_text()) * 8
    want = tok.encode_batch(texts, num_threads=2)
    probe = max(set(want[0]), key=want[0].count)
    probe = want[0][want[0].index(probe)]  # one of the shared int objects
    before = sys.getrefcount(probe)
    blocks = sys.getallocatedblocks()
    for fail_after in (50, len(texts) // 4, len(texts)):
        caught = None
        capi.set_nomemory(fail_after)
        try:
            tok.encode_batch(texts, num_threads=2)
        except MemoryError as e:
            caught = e
        finally:
            capi.remove_mem_hooks()
        assert isinstance(caught, MemoryError), fail_after
        del caught
        # (no list of the failed call is left; those it built gave their references back)
        assert sys.getallocatedblocks() - blocks < 100
        assert before - sys.getrefcount(probe) >= 0 and probe == int(str(probe))
        assert gc.isenabled()
    assert tok.encode_batch(texts, num_threads=2) == want


@pytest.mark.parametrize("method", ["encode_batch", "encode_batch_numpy"])
def test_batch_bad_texts(tok, method):
    encode = getattr(tok, method)
    with pytest.raises(TypeError, match=r"texts\[2\] is int, not str"):
        encode(["a", "b", 3])
    with pytest.raises(TypeError, match=r"texts\[1\] is bytes, not str"):
        encode(("a", b"b"))
    with pytest.raises(TypeError, match="not a single str"):
        encode("abc")
    with pytest.raises(TypeError):
        encode(5)
    with pytest.raises(UnicodeEncodeError):
        encode(["fine", "lone \ud800 surrogate"])
    # the native entry points check the same, whatever the wrapper passes them
    core = getattr(tok._core, "encode_batch_flat" if method.endswith("numpy") else method)
    with pytest.raises(TypeError, match=r"texts\[0\] is NoneType, not str"):
        core([None])
    with pytest.raises(TypeError, match="not a single str"):
        core("abc")
    with pytest.raises(TypeError, match="sequence of str, not int"):
        core(7)


# ---- writing files ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["save", "save_tiktoken"])
def test_save_into_missing_folder(tok, tmp_path, method):
    target = tmp_path / "missing" / "tok.json"
    with pytest.raises(OSError):
        getattr(tok, method)(target)
    assert not (tmp_path / "missing").exists()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("method", ["save", "save_tiktoken"])
def test_failed_save_leaves_no_trace(tok, tmp_path, method):
    # The target is a directory: writing the temporary file works, renaming it over the target
    # fails. The directory, its content and the folder around it must be as before.
    target = tmp_path / "tok.json"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(OSError):
        getattr(tok, method)(target)
    assert sorted(os.listdir(tmp_path)) == before
    assert os.listdir(target) == ["keep.txt"]


@pytest.mark.parametrize("method", ["save", "save_tiktoken"])
def test_save_replaces_existing_file(tok, tmp_path, method):
    target = tmp_path / "tok.out"
    target.write_text("old content")
    getattr(tok, method)(target)
    assert target.read_bytes() != b"old content"
    assert os.listdir(tmp_path) == ["tok.out"]  # no temporary file left behind
    if method == "save":
        assert bp.Tokenizer.from_file(target).merges == tok.merges
    getattr(tok, method)(str(target))  # str paths work too
    assert os.listdir(tmp_path) == ["tok.out"]


def test_from_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        bp.Tokenizer.from_file(tmp_path / "none.json")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{ this is not json")
    with pytest.raises(ValueError):
        bp.Tokenizer.from_file(garbage)
