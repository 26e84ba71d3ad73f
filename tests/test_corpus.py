"""Corpus encoding (``bytepair encode`` / ``encode_corpus``) and ``stats``, against references
written here: documents read with the standard library, each encoded with ``Tokenizer.encode``."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bytepair
import numpy as np
import pytest
from bytepair import Tokenizer
from bytepair import corpus as bpc
from bytepair.cli import main
from helpers import EOT, REPO, fixture_text

SEP = re.compile(r"\r?\n(?:[ \t]*\r?\n)+")


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    text = fixture_text("en_kjv") + fixture_text("code_python")
    return bytepair.train_from_iterator([text], 700, pattern="o200k", special_tokens=[EOT])


@pytest.fixture(scope="module")
def text() -> str:
    # Paragraphs, \r\n lines, whitespace-only lines, a special token as plain text, non-ASCII.
    base = fixture_text("en_kjv")[:60_000] + fixture_text("ja")[:5_000]
    extra = "x = 1\r\n\r\ny = 2\n  \n\nsay <|endoftext|> here\n\n\n"
    return extra + base + extra


def reference(tok: Tokenizer, docs: list[str], eot: bool = True) -> tuple[list[int], list[int]]:
    """Concatenated ``encode`` of each document (+ end-of-text) and the document offsets."""
    ids: list[int] = []
    index = [0]
    e = tok.special_tokens[EOT]
    for d in docs:
        ids += tok.encode(d, disallowed_special=())
        if eot:
            ids.append(e)
        index.append(len(ids))
    return ids, index


def ref_docs(text: str, doc_sep: str) -> list[str]:
    if doc_sep == "file":
        return [text] if text else []
    if doc_sep == "line":
        return [ln for ln in re.split(r"\r?\n", text) if ln]
    return [d for d in SEP.split(text) if d]


def check_output(out: Path, tok: Tokenizer, docs: list[str], eot: bool = True) -> dict[str, Any]:
    tokens, index, meta = bytepair.load_tokens(out)
    want, want_index = reference(tok, docs, eot)
    assert tokens.dtype == np.dtype("<u2")
    assert tokens.tolist() == want
    assert index.tolist() == want_index
    assert meta["documents"] == len(docs) and meta["tokens"] == len(want)
    assert meta["text_bytes"] == sum(len(d.encode()) for d in docs)
    assert meta["tokenizer"]["sha256"] == bpc.tokenizer_sha256(tok)
    for i in (0, len(docs) // 2, len(docs) - 1):
        piece = tokens[index[i] : index[i + 1]].tolist()
        assert tok.decode(piece[:-1] if eot else piece) == docs[i]
    del tokens, index
    return meta


@pytest.mark.parametrize("doc_sep", ["file", "blank-line", "line"])
def test_text_documents_equal_reference(tmp_path: Path, tok: Tokenizer, text: str, doc_sep: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # Tiny read blocks and batches: every carry-over and batch boundary is exercised.
    monkeypatch.setattr(bpc, "_READ_CHARS", 997)
    (tmp_path / "a.txt").write_bytes(text.encode())
    (tmp_path / "b.txt").write_bytes(text[:5000].encode())
    out = tmp_path / "out"
    bytepair.encode_corpus(tok, [tmp_path / "a.txt", tmp_path / "b.txt"], out,
                           doc_sep=doc_sep, batch_bytes=3000, progress=False)
    docs = ref_docs(text, doc_sep) + ref_docs(text[:5000], doc_sep)
    assert len(docs) > (1 if doc_sep == "file" else 50)
    check_output(out, tok, docs)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.txt", "b.txt", "out.bin", "out.idx", "out.json"]


def test_one_thread_equals_all_and_batch_size_does_not_matter(
        tmp_path: Path, tok: Tokenizer, text: str) -> None:
    (tmp_path / "a.txt").write_text(text, encoding="utf-8", newline="")
    outs = []
    for i, (threads, batch) in enumerate([(1, 1 << 20), (None, 1 << 20), (2, 500), (4, 50_000)]):
        out = tmp_path / f"o{i}"
        bytepair.encode_corpus(tok, [tmp_path / "a.txt"], out, doc_sep="blank-line",
                               num_threads=threads, batch_bytes=batch, progress=False)
        outs.append(((out.with_suffix(".bin")).read_bytes(), out.with_suffix(".idx").read_bytes()))
    assert all(o == outs[0] for o in outs)


def test_jsonl_gz_zst_parquet(tmp_path: Path, tok: Tokenizer, text: str) -> None:
    docs = [d for d in SEP.split(text) if d][:300]
    lines = "\n".join(json.dumps({"id": i, "body": d}) for i, d in enumerate(docs)) + "\n\n"
    (tmp_path / "d.jsonl").write_text(lines, encoding="utf-8")
    (tmp_path / "d.jsonl.gz").write_bytes(gzip.compress(lines.encode()))
    zstd = pytest.importorskip("zstandard")
    (tmp_path / "d.ndjson.zst").write_bytes(zstd.ZstdCompressor().compress(lines.encode()))
    (tmp_path / "t.txt.gz").write_bytes(gzip.compress(text.encode()))
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"body": docs}), tmp_path / "d.parquet", row_group_size=50)
    for name in ("d.jsonl", "d.jsonl.gz", "d.ndjson.zst"):
        bytepair.encode_corpus(tok, [tmp_path / name], tmp_path / "o", field="body",
                               progress=False)
        check_output(tmp_path / "o", tok, docs)
    bytepair.encode_corpus(tok, [tmp_path / "d.parquet"], tmp_path / "o", column="body",
                           progress=False)
    check_output(tmp_path / "o", tok, docs)
    bytepair.encode_corpus(tok, [tmp_path / "t.txt.gz"], tmp_path / "o", doc_sep="blank-line",
                           progress=False)
    check_output(tmp_path / "o", tok, ref_docs(text, "blank-line"))
    # Mixed inputs in one run, in order.
    bytepair.encode_corpus(tok, [tmp_path / "d.parquet", tmp_path / "d.jsonl.gz"],
                           tmp_path / "o", column="body", field="body", progress=False)
    check_output(tmp_path / "o", tok, docs + docs)


def test_uint32_for_large_vocabularies(tmp_path: Path, text: str) -> None:
    vocab = REPO.parent / "shared" / "vocab" / "cl100k_base.tiktoken"
    if not vocab.is_file():
        pytest.skip(f"shared vocabulary not found at {vocab}")
    big = Tokenizer.from_file(vocab, pattern="cl100k_base", special_tokens="default")
    (tmp_path / "a.txt").write_text(text[:20_000], encoding="utf-8", newline="")
    bytepair.encode_corpus(big, [tmp_path / "a.txt"], tmp_path / "o", doc_sep="blank-line",
                           progress=False)
    tokens, index, meta = bytepair.load_tokens(tmp_path / "o")
    assert meta["dtype"] == "uint32" and tokens.dtype == np.dtype("<u4")
    want, want_index = reference(big, ref_docs(text[:20_000], "blank-line"))
    assert tokens.tolist() == want and index.tolist() == want_index
    # And equal to tiktoken's own ids when tiktoken is there.
    tiktoken = pytest.importorskip("tiktoken")
    ranks = pytest.importorskip("tiktoken.load").load_tiktoken_bpe(str(vocab))
    assert big.pattern is not None  # tiktoken's cl100k regex, character for character
    enc = tiktoken.Encoding("cl100k_base", pat_str=big.pattern,
                            mergeable_ranks=ranks, special_tokens={EOT: 100257})
    ref = []
    for d in ref_docs(text[:20_000], "blank-line"):
        ref += [*enc.encode_ordinary(d), enc.eot_token]
    assert tokens.tolist() == ref


def test_eot_options(tmp_path: Path, tok: Tokenizer) -> None:
    (tmp_path / "a.txt").write_text("one\ntwo\n", encoding="utf-8")
    bytepair.encode_corpus(tok, [tmp_path / "a.txt"], tmp_path / "o", doc_sep="line",
                           eot=False, progress=False)
    check_output(tmp_path / "o", tok, ["one", "two"], eot=False)
    bytepair.encode_corpus(tok, [tmp_path / "a.txt"], tmp_path / "o", doc_sep="line",
                           eot=7, progress=False)
    assert bytepair.load_tokens(tmp_path / "o")[0].tolist() == [
        *tok.encode("one"), 7, *tok.encode("two"), 7]
    plain = bytepair.train_from_iterator(["abc abc"], 260, min_frequency=1)
    with pytest.raises(ValueError, match=re.escape("no token '<|endoftext|>'")):
        bytepair.encode_corpus(plain, [tmp_path / "a.txt"], tmp_path / "o", progress=False)


# ---- bad input ----------------------------------------------------------------------------


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_malformed_json_names_file_and_line(tmp_path: Path, tok: Tokenizer) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text('{"text": "a"}\n\n{"text": "b"\n{"text": "c"}\n{"x": 1}\n{"text": null}\n'
                 '[1]\n{"text": "d"}\n', encoding="utf-8")
    out = tmp_path / "o"
    with pytest.raises(bpc.BadInputError, match=r"d\.jsonl:3: malformed JSON"):
        bytepair.encode_corpus(tok, [f], out, progress=False)
    assert listing(tmp_path) == ["d.jsonl"]
    res = bytepair.encode_corpus(tok, [f], out, skip_bad=True, progress=False)
    assert res.meta["skipped_bad"] == 4
    assert "d.jsonl:5: no field 'text'" in res.meta["skipped_examples"][1]
    assert "is NoneType, not a string" in res.meta["skipped_examples"][2]
    check_output(out, tok, ["a", "c", "d"])
    # The command line: file:line on stderr, exit code 2; --skip-bad counts them.
    rc = main(["encode", "--tokenizer", str(tmp_path / "t.json"), str(f), "-o", str(out)])
    assert rc == 2


def test_missing_field_column_and_unreadable(tmp_path: Path, tok: Tokenizer,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text('{"body": "a"}\n', encoding="utf-8")
    with pytest.raises(bpc.BadInputError, match=r"d\.jsonl:1: no field 'text' \(fields: body\)"):
        bytepair.encode_corpus(tok, [f], tmp_path / "o", progress=False)
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"body": ["a", None, "b"]}), tmp_path / "d.parquet")
    with pytest.raises(bpc.BadInputError, match="no column 'text' \\(columns: body\\)"):
        bytepair.encode_corpus(tok, [tmp_path / "d.parquet"], tmp_path / "o", progress=False)
    with pytest.raises(bpc.BadInputError, match="row 2: column 'body' is null"):
        bytepair.encode_corpus(tok, [tmp_path / "d.parquet"], tmp_path / "o", column="body",
                               progress=False)
    with pytest.raises(FileNotFoundError, match=r"nope\.txt"):
        bytepair.encode_corpus(tok, [tmp_path / "nope.txt"], tmp_path / "o", progress=False)
    with pytest.raises(IsADirectoryError):
        bytepair.encode_corpus(tok, [tmp_path], tmp_path / "o", progress=False)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\xfe\n")
    with pytest.raises(bpc.BadInputError, match=r"bad\.txt: invalid UTF-8"):
        bytepair.encode_corpus(tok, [bad], tmp_path / "o", progress=False)
    assert listing(tmp_path) == ["bad.txt", "d.jsonl", "d.parquet"]
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.txt"
        locked.write_text("x")
        locked.chmod(0)
        with pytest.raises(PermissionError, match=r"locked\.txt"):
            bytepair.encode_corpus(tok, [locked], tmp_path / "o", progress=False)
    tokpath = tmp_path / "t.json"
    tok.save(tokpath)
    rc = main(["encode", "--tokenizer", str(tokpath), str(tmp_path / "nope.txt"),
               "-o", str(tmp_path / "o")])
    assert rc == 2 and "nope.txt" in capsys.readouterr().err


def test_failing_write_or_interrupt_leaves_nothing(tmp_path: Path, tok: Tokenizer, text: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    out = tmp_path / "o"
    # An earlier complete output stays as it was when a new run fails.
    bytepair.encode_corpus(tok, [tmp_path / "a.txt"], out, progress=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = bpc._core.encode_text_packed
    calls = {"n": 0}

    def failing(exc: BaseException) -> Any:
        def f(*a: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 3:
                raise exc
            return real(*a)
        return f

    for exc in (KeyboardInterrupt(), OSError(28, "No space left on device")):
        calls["n"] = 0
        monkeypatch.setattr(bpc._core, "encode_text_packed", failing(exc))
        with pytest.raises(type(exc)):
            bytepair.encode_corpus(tok, [tmp_path / "a.txt"], out, doc_sep="blank-line",
                                   batch_bytes=2000, progress=False)
        assert calls["n"] == 3
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    monkeypatch.undo()

    def disk_full(f: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bpc, "_sync_close", disk_full)
    with pytest.raises(OSError, match="No space left"):
        bytepair.encode_corpus(tok, [tmp_path / "a.txt"], tmp_path / "new", progress=False)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_ctrl_c_stops_the_command_cleanly(tmp_path: Path, tok: Tokenizer) -> None:
    tokpath = tmp_path / "t.json"
    tok.save(tokpath)
    big = tmp_path / "big.txt"
    para = fixture_text("en_kjv")
    with open(big, "w", encoding="utf-8") as f:
        for _ in range(max(1, (40 << 20) // len(para))):
            f.write(para)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # (`preexec_fn`: Ctrl-C's default disposition in the child. A shell without job control
    # starts background commands with SIGINT ignored, children inherit that, and Python then
    # installs no KeyboardInterrupt handler: the run ignored the signal and exited 0 when the
    # test suite was started with `&` from a script.)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bytepair", "encode", "--tokenizer", str(tokpath), str(big),
         "--doc-sep", "line", "--batch-mb", "0.5", "-q", "-o", str(tmp_path / "o")],
        stderr=subprocess.PIPE, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Wait until the run writes its temporary token file, then press Ctrl-C.
    while proc.poll() is None and not any(p.name.startswith(".o.bin.tmp") and p.stat().st_size
                                          for p in tmp_path.iterdir()):
        time.sleep(0.01)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be interrupted")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate()
    assert proc.returncode == 130, err
    assert b"interrupted" in err
    assert listing(tmp_path) == ["big.txt", "t.json"]


# ---- CLI and stats ------------------------------------------------------------------------


def test_cli_encode_json_summary(tmp_path: Path, tok: Tokenizer, text: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    tokpath = tmp_path / "t.json"
    tok.save(tokpath)
    (tmp_path / "a.txt").write_text(text, encoding="utf-8", newline="")
    rc = main(["encode", "--tokenizer", str(tokpath), str(tmp_path / "a.txt"), "--doc-sep",
               "blank-line", "-o", str(tmp_path / "o.bin"), "--json", "--threads", "2"])
    assert rc == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["dtype"] == "uint16" and meta["version"] == 1
    check_output(tmp_path / "o", tok, ref_docs(text, "blank-line"))


def test_stats_equal_reference(tmp_path: Path, tok: Tokenizer, text: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    other = bytepair.train_from_iterator([text], 400, pattern="gpt2", special_tokens=[EOT])
    files = [tmp_path / "a.txt", tmp_path / "b.txt"]
    files[0].write_text(text, encoding="utf-8", newline="")
    files[1].write_text(fixture_text("code_python")[:20_000], encoding="utf-8", newline="")
    rows = bpc.corpus_stats({"A": tok, "B": other}, files, doc_sep="blank-line")
    assert [(r["file"], r["tokenizer"]) for r in rows] == [
        (str(files[0]), "A"), (str(files[0]), "B"), (str(files[1]), "A"), (str(files[1]), "B"),
        ("(all)", "A"), ("(all)", "B")]
    for r in rows:
        t = {"A": tok, "B": other}[r["tokenizer"]]
        docs = []
        for f in files if r["file"] == "(all)" else [Path(r["file"])]:
            docs += ref_docs(f.read_text(encoding="utf-8"), "blank-line")
        ids = [i for d in docs for i in t.encode(d, disallowed_special=())]
        nbytes = sum(len(d.encode()) for d in docs)
        words = sum(len(d.split()) for d in docs)
        assert (r["bytes"], r["tokens"], r["words"]) == (nbytes, len(ids), words)
        assert r["bytes_per_token"] == pytest.approx(nbytes / len(ids))
        assert r["tokens_per_word"] == pytest.approx(len(ids) / words)
        assert r["vocab_used"] == len(set(ids)) and r["vocab_size"] == t.vocab_size
    tok.save(tmp_path / "a.json")
    other.save(tmp_path / "b.json")
    assert main(["stats", "--tokenizer", str(tmp_path / "a.json"), "--tokenizer",
                 f"gpt2ish={tmp_path / 'b.json'}", str(files[0]), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [r["tokenizer"] for r in got] == ["a.json", "gpt2ish"]
    assert got[0]["tokens"] == sum(len(tok.encode(text, disallowed_special=())) for _ in [0])
    assert main(["stats", "--tokenizer", str(tmp_path / "a.json"), str(files[0])]) == 0
    table = capsys.readouterr().out
    assert "bytes/token" in table and "a.json" in table


def test_progress_only_when_asked_or_on_a_terminal(tmp_path: Path, tok: Tokenizer, text: str,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    bytepair.encode_corpus(tok, [tmp_path / "a.txt"], tmp_path / "o")  # stderr is no terminal
    assert capfd.readouterr().err == ""
    bytepair.encode_corpus(tok, [tmp_path / "a.txt"], tmp_path / "o", progress=True)
    err = capfd.readouterr().err
    assert "MB/s" in err and "tokens" in err and err.endswith("\n")


@pytest.mark.parametrize("doc_sep", ["blank-line", "line"])
def test_block_boundaries_never_change_documents(tmp_path: Path, tok: Tokenizer, doc_sep: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Separators of every shape, so that block ends fall inside them at every offset.
    seps = ["\n\n", "\r\n\r\n", "\n \n\t\n", "\n\n\n\n", "\n  \r\n\n", "\n", "\r\n", "\n  "]
    text = "".join(f"doc{i} é{sep}" for i, sep in enumerate(seps * 6)) + "end"
    f = tmp_path / "a.txt"
    f.write_bytes(text.encode())
    want = ref_docs(text, doc_sep)
    for size in range(1, 45):
        monkeypatch.setattr(bpc, "_READ_CHARS", size)
        assert list(bpc.iter_documents(f, doc_sep=doc_sep)) == want, size
    for size in (1, 7, 13, 64):
        bytepair.encode_corpus(tok, [f], tmp_path / "o", doc_sep=doc_sep, batch_bytes=size,
                               progress=False)
        check_output(tmp_path / "o", tok, want)


def test_tokenizer_hash_identifies_what_decides_the_ids(tok: Tokenizer) -> None:
    h = bpc.tokenizer_sha256(tok)
    assert len(h) == 64
    assert bpc.tokenizer_sha256(Tokenizer.from_json(tok.to_json())) == h
    text = fixture_text("en_kjv") + fixture_text("code_python")
    smaller = bytepair.train_from_iterator([text], 699, pattern="o200k", special_tokens=[EOT])
    other_pattern = bytepair.train_from_iterator([text], 700, pattern="gpt2",
                                                 special_tokens=[EOT])
    other_special = bytepair.train_from_iterator([text], 700, pattern="o200k",
                                                 special_tokens=["<|eot|>"])
    hashes = {bpc.tokenizer_sha256(t) for t in (smaller, other_pattern, other_special)}
    assert len(hashes) == 3 and h not in hashes


def test_whole_files_stream_in_pieces_with_the_same_ids(
        tmp_path: Path, tok: Tokenizer, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    big = text * 3
    (tmp_path / "big.txt").write_text(big, encoding="utf-8", newline="")
    (tmp_path / "small.txt").write_text("tiny\n", encoding="utf-8")
    real = bpc._core.encode_text_packed
    calls: list[Any] = []

    def spy(*a: Any) -> Any:
        calls.append(a[3])  # the eot argument: None for a piece that does not end a document
        return real(*a)

    monkeypatch.setattr(bpc._core, "encode_text_packed", spy)
    files = [tmp_path / "big.txt", tmp_path / "small.txt"]
    assert bpc._core.encodes_in_pieces(tok._core)
    bytepair.encode_corpus(tok, files, tmp_path / "o", batch_bytes=20_000, progress=False)
    assert calls.count(None) >= 5 and len(calls) - calls.count(None) == 2
    check_output(tmp_path / "o", tok, [big, "tiny\n"])
    # A tokenizer whose split is not a preset reads each file whole: the same kind of result.
    custom = bytepair.train_from_iterator([text], 400, pattern=r"\s?\w+|\s?[^\w\s]+|\s+",
                                          special_tokens=[EOT])
    assert not bpc._core.encodes_in_pieces(custom._core)
    calls.clear()
    bytepair.encode_corpus(custom, files, tmp_path / "c", batch_bytes=20_000, progress=False)
    assert None not in calls
    check_output(tmp_path / "c", custom, [big, "tiny\n"])
