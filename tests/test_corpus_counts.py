"""Pretoken-count files: counts of shards merged equal counts at once (and a regex reference),
training on merged counts gives the same merges as training on the text; format errors."""

from __future__ import annotations

import gzip
import json
import pickle
import re
from collections import Counter
from pathlib import Path

import bytepair
import pytest
import regex
from bytepair import PretokenCounts
from bytepair import corpus as bpc
from bytepair.cli import main
from helpers import EOT, assert_same_merges, fixture_text, safe_split, with_eot


@pytest.fixture(scope="module")
def text() -> str:
    return with_eot(fixture_text("en_kjv") + fixture_text("code_rust") + fixture_text("ja"))


def regex_counts(text: str, pattern_regex: str, specials: list[str]) -> Counter[str]:
    """Reference: cut out special tokens, split with the `regex` module, count."""
    parts = re.split("|".join(map(re.escape, specials)), text) if specials else [text]
    c: Counter[str] = Counter()
    for p in parts:
        c.update(regex.findall(pattern_regex, p))
    return c


def write_shards(tmp_path: Path, text: str, n: int) -> list[Path]:
    out = []
    for i, piece in enumerate(safe_split(text, n)):
        p = tmp_path / f"shard{i}.txt"
        p.write_text(piece, encoding="utf-8", newline="")
        out.append(p)
    return out


@pytest.mark.parametrize("pattern", ["o200k", "gpt2"])
def test_shards_merged_equal_whole_and_reference(tmp_path: Path, text: str, pattern: str) -> None:
    whole = tmp_path / "whole.txt"
    whole.write_text(text, encoding="utf-8", newline="")
    at_once = bytepair.count_pretokens([whole], pattern=pattern, special_tokens=[EOT])
    shards = write_shards(tmp_path, text, 5)
    files = []
    for i, s in enumerate(shards):
        c = bytepair.count_pretokens(s, pattern=pattern, special_tokens=[EOT], num_threads=1)
        c.save(tmp_path / f"c{i}.bpc")
        files.append(tmp_path / f"c{i}.bpc")
    merged = bytepair.merge_counts(files)
    assert merged == at_once
    # Merging is associative and commutative: any grouping gives the same bytes.
    left = bytepair.merge_counts([bytepair.merge_counts(files[:2]), *files[2:]])
    right = bytepair.merge_counts(list(reversed(files)))
    assert left.to_bytes() == right.to_bytes() == merged.to_bytes()
    # And the counts are those of a regex reference.
    pat = bytepair.train_from_iterator(["ab"], 257, pattern=pattern, min_frequency=1).pattern
    assert pat is not None
    ref = regex_counts(text, pat, [EOT])
    assert merged.to_dict() == dict(ref)
    assert merged.total == sum(ref.values())
    assert merged.text_bytes == len(text.replace(EOT, "").encode())
    assert EOT not in merged.to_dict()


def test_training_on_merged_counts_gives_the_same_merges(tmp_path: Path, text: str) -> None:
    whole = tmp_path / "whole.txt"
    whole.write_text(text, encoding="utf-8", newline="")
    direct = bytepair.train([whole], 1500, pattern="o200k", special_tokens=[EOT], progress=False)
    parts = [bytepair.count_pretokens(s, special_tokens=[EOT])
             for s in write_shards(tmp_path, text, 4)]
    parts[0].save(tmp_path / "p0.bpc")
    from_counts = bytepair.train(vocab_size=1500, from_counts=[tmp_path / "p0.bpc", *parts[1:]],
                                 special_tokens=[EOT], progress=False)
    assert_same_merges(from_counts.merges, direct.merges)
    assert from_counts.get_vocab() == direct.get_vocab()
    assert from_counts.special_tokens == direct.special_tokens
    assert from_counts.to_json() == direct.to_json()
    # Iterator documents count like files.
    docs = bytepair.count_pretokens(iter(text.split("\n\n")), special_tokens=[EOT])
    ref = bytepair.count_pretokens(iter([text]), special_tokens=[EOT])
    assert len(docs) > 0 and docs.total >= ref.total - text.count("\n\n") * 2
    # Mismatches are clear errors.
    with pytest.raises(ValueError, match="special tokens"):
        bytepair.train(vocab_size=1500, from_counts=parts, progress=False)
    with pytest.raises(ValueError, match="pattern 'o200k', not 'gpt2'"):
        bytepair.train(vocab_size=1500, from_counts=parts, pattern="gpt2",
                       special_tokens=[EOT])
    with pytest.raises(TypeError, match="files or from_counts"):
        bytepair.train([whole], 1500, from_counts=parts)


def test_compressed_jsonl_and_parquet_counts(tmp_path: Path, text: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bpc, "_READ_CHARS", 4093)  # many safe cuts in the compressed reader
    plain = tmp_path / "t.txt"
    plain.write_text(text, encoding="utf-8", newline="")
    (tmp_path / "t.txt.gz").write_bytes(gzip.compress(text.encode()))
    want = bytepair.count_pretokens(plain, special_tokens=[EOT])
    assert bytepair.count_pretokens(tmp_path / "t.txt.gz", special_tokens=[EOT]) == want
    zstd = pytest.importorskip("zstandard")
    (tmp_path / "t.txt.zst").write_bytes(zstd.ZstdCompressor().compress(text.encode()))
    assert bytepair.count_pretokens([str(tmp_path / "t.txt.zst")], special_tokens=[EOT]) == want
    docs = [d for d in text.split("\n\n") if d]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps({"text": d}) for d in docs) + "\n",
                                      encoding="utf-8")
    want_docs = bytepair.count_pretokens(iter(docs), special_tokens=[EOT])
    assert bytepair.count_pretokens(tmp_path / "d.jsonl", special_tokens=[EOT]) == want_docs
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"text": docs}), tmp_path / "d.parquet", row_group_size=100)
    assert bytepair.count_pretokens(tmp_path / "d.parquet", special_tokens=[EOT]) == want_docs


def test_count_file_format_round_trip_and_errors(tmp_path: Path) -> None:
    c = bytepair.count_pretokens(iter(["hello world, hello", "héllo"]), pattern="cl100k")
    assert c.pattern == "cl100k" and c.special_tokens == [] and c.normalizer is None
    assert c.items() == sorted(c.to_dict().items(), key=lambda kv: kv[0].encode())
    assert pickle.loads(pickle.dumps(c)) == c
    path = tmp_path / "c.bpc"
    c.save(path)
    data = path.read_bytes()
    assert data.startswith(b"BPCOUNTS\x01\x00\x00\x00")
    assert PretokenCounts.load(str(path)) == c
    for cut in (3, 20, len(data) - 5):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=r"c\.bpc"):
            PretokenCounts.load(str(path))
    path.write_bytes(data[:8] + b"\x07" + data[9:])
    with pytest.raises(ValueError, match="version 7"):
        PretokenCounts.load(str(path))
    with pytest.raises(FileNotFoundError):
        PretokenCounts.load(str(tmp_path / "missing.bpc"))
    other = bytepair.count_pretokens(iter(["x"]), pattern="o200k")
    with pytest.raises(ValueError, match="cannot merge pretoken counts made differently"):
        bytepair.merge_counts([c, other])
    with pytest.raises(ValueError, match="no pretoken counts"):
        bytepair.merge_counts([])


def test_cli_count_merge_train(tmp_path: Path, text: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    shards = write_shards(tmp_path, text, 3)
    for i, s in enumerate(shards):
        assert main(["count", str(s), "-o", str(tmp_path / f"c{i}.bpc"), "--pattern", "gpt2",
                     "--special-token", EOT, "-q"]) == 0
    assert main(["merge-counts", *(str(tmp_path / f"c{i}.bpc") for i in range(3)),
                 "-o", str(tmp_path / "all.bpc"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pattern"] == "gpt2" and summary["special_tokens"] == [EOT]
    assert main(["train-counts", str(tmp_path / "all.bpc"), "--vocab-size", "800",
                 "-o", str(tmp_path / "t.json"), "-q"]) == 0
    trained = bytepair.Tokenizer.from_file(tmp_path / "t.json")
    direct = bytepair.train(shards, 800, pattern="gpt2", special_tokens=[EOT], progress=False)
    assert_same_merges(trained.merges, direct.merges)
    bad = tmp_path / "bad.bpc"
    bad.write_bytes(b"nonsense")
    assert main(["merge-counts", str(bad), "-o", str(tmp_path / "x.bpc")]) == 2
    assert "not a bytepair pretoken-count file" in capsys.readouterr().err
    assert not (tmp_path / "x.bpc").exists()
