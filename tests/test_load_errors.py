"""Malformed, truncated or unsupported tokenizer files raise ValueError naming the file and what
is wrong (FileNotFoundError for a missing file); nothing loads half-read."""

from __future__ import annotations

import base64
import json

import pytest

bp = pytest.importorskip("bytepair")


@pytest.fixture(scope="module")
def good_json() -> str:
    tok = bp.train_from_iterator(["hello hello world " * 50], 300, special_tokens=["<|eot|>"])
    return tok.to_json()


def rank_file(tokens: list[bytes]) -> str:
    return "".join(f"{base64.b64encode(t).decode()} {r}\n" for r, t in enumerate(tokens))


BYTES = [bytes([b]) for b in range(256)]


def raises(path, match: str, **kwargs) -> str:
    with pytest.raises(ValueError, match=match) as e:
        bp.Tokenizer.from_file(path, **kwargs)
    assert path.name in str(e.value), str(e.value)
    return str(e.value)


def test_truncated_tokenizer_json(good_json, tmp_path):
    for cut in (10, len(good_json) // 2, len(good_json) - 3):
        p = tmp_path / "cut.json"
        p.write_text(good_json[:cut])
        raises(p, "truncated JSON")


def mutate(good_json: str, fn) -> str:
    doc = json.loads(good_json)
    fn(doc)
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d["model"].__setitem__("vocab", [1, 2]), "must be an object, not a list"),
        (lambda d: d["model"].__setitem__("merges", 5), "must be a list, not a number"),
        (lambda d: d["model"]["merges"].__setitem__(0, "h zz"), "merge part \"zz\""),
        (lambda d: d["model"]["merges"].__setitem__(0, ["h"]), "not a pair of strings"),
        (lambda d: d["model"]["vocab"].pop("h"), "not contiguous|no token"),
        (lambda d: d["model"]["vocab"].__setitem__("h", "7"), "not a non-negative integer"),
        (lambda d: d["model"].__setitem__("type", "Unigram"), "Unigram"),
        (lambda d: d.pop("model"), "no \"model\""),
        (lambda d: d["added_tokens"][0].pop("content"), "no \"content\""),
        (lambda d: d["added_tokens"][0].__setitem__("id", 3), "which the vocab gives to"),
        (lambda d: d.__setitem__("normalizer", {"type": "NFD"}), "normalizer \"NFD\""),
        (lambda d: d.__setitem__("pre_tokenizer", {"type": "Whitespace"}), "Whitespace"),
        (lambda d: d["model"].__setitem__("dropout", 0.5), "dropout"),
    ],
)
def test_bad_tokenizer_json(good_json, tmp_path, edit, match):
    p = tmp_path / "bad.json"
    p.write_text(mutate(good_json, edit))
    raises(p, match)


def test_bad_tiktoken_files(tmp_path):
    good = rank_file([*BYTES, b"he", b"hel"])
    cases = {
        "bad base64": good.replace(base64.b64encode(b"he").decode(), "@@@", 1),
        "duplicate rank": good + f"{base64.b64encode(b'xyz').decode()} 3\n",
        "rank 5 is missing": good.replace(" 5\n", " 999\n"),
        "byte 0x41 has no token": rank_file([b if b != b"A" else b"AA" for b in BYTES]),
        "cannot be built": rank_file([*BYTES, b"xyz"]),
        "expected `<base64 token> <rank>`": good + "QQ==\n",
    }
    for match, text in cases.items():
        p = tmp_path / "bad.tiktoken"
        p.write_text(text)
        raises(p, match, pattern="gpt2")
    p = tmp_path / "cut.tiktoken"
    p.write_text(good[: len(good) // 2 - 1])  # cut inside a line: the rank is cut short
    with pytest.raises(ValueError, match=r"cut\.tiktoken"):
        bp.Tokenizer.from_file(p, pattern="gpt2")


def test_bad_gpt2_files(tmp_path):
    vocab = {"a": 0, "a b": 1}  # a space is not in GPT-2's byte alphabet
    (tmp_path / "vocab.json").write_text('{"a": 0, "b": ')
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\n")
    raises(tmp_path / "vocab.json", "truncated JSON")
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    raises(tmp_path / "vocab.json", "not byte-level")
    good = bp.train_from_iterator(["abc abc abd " * 20], 260)
    hf = json.loads(good.to_json())["model"]
    (tmp_path / "vocab.json").write_text(json.dumps(hf["vocab"]))
    (tmp_path / "merges.txt").write_text("#version: 0.2\na q\n")
    err = raises(tmp_path / "merges.txt", "line 2: merge result \"aq\" is not in the vocab")
    assert "vocab.json" in err
    (tmp_path / "merges.txt").unlink()
    raises(tmp_path / "vocab.json", "needs its merges.txt")


def test_missing_files_and_folders(tmp_path):
    with pytest.raises(FileNotFoundError):
        bp.Tokenizer.from_file(tmp_path / "none.json")
    raises(tmp_path, "neither tokenizer.json nor vocab.json")
