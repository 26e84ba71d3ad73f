"""Loading tokenizers bytepair did not write: HF tokenizer.json files trained by HF tokenizers,
GPT-2's vocab.json + merges.txt, and the real tiktoken rank files. Each must load and give the
ids of the library that owns the format."""

from __future__ import annotations

import base64
import functools
import json
from pathlib import Path

import pytest
from helpers import EOT, FIXTURES, fixture_text, with_eot

bp = pytest.importorskip("bytepair")
tokenizers = pytest.importorskip("tokenizers")
tiktoken = pytest.importorskip("tiktoken")
tiktoken_load = pytest.importorskip("tiktoken.load")
openai_public = pytest.importorskip("tiktoken_ext.openai_public")

from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "corpus"
VOCAB = SHARED / "vocab"
HEAD = 200_000


def head(path: Path, size: int = HEAD) -> str:
    """The first ``size`` bytes of a file, cut at the last newline."""
    data = path.read_bytes()[:size]
    return data[: data.rindex(b"\n") + 1].decode()


@pytest.fixture(scope="module")
def corpus_heads() -> dict[str, str]:
    """The first ~200 KB of every shared corpus file, by name."""
    if not (CORPUS / "en.txt").is_file():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return {str(p.relative_to(CORPUS)): head(p) for p in sorted(CORPUS.rglob("*.txt"))}


def fixtures() -> dict[str, str]:
    return {name: fixture_text(name) for name in FIXTURES}


def first_diff(a: list[int], b: list[int]) -> str:
    i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return f"ids differ at {i}: {a[i : i + 5]} vs {b[i : i + 5]} (lengths {len(a)}, {len(b)})"


# ---- HF tokenizer.json trained by HF tokenizers -------------------------------------------

SPECIALS = [EOT, "<pad>"]

# Variants of a byte-level BPE tokenizer HF tokenizers trains: name -> (normalizer,
# pre-tokenizer, BPE options).
HF_VARIANTS = {
    "bytelevel": (None, "bytelevel", {}),
    "nfc": (normalizers.NFC, "bytelevel", {}),
    "nfkc_split": (normalizers.NFKC, "split", {}),
    "seq_nfkc_ignore_merges": ("seq", "bytelevel", {"ignore_merges": True}),
}
# The regex bytepair writes for cl100k (cl100k's pattern without `{1,3}+`, see formats/hf.rs).
CL100K_HF_PATTERN = (
    r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*+"
    r"|\s++$|\s*[\r\n]|\s+(?!\S)|\s"
)


def hf_train(variant: str, texts: list[str]) -> tokenizers.Tokenizer:
    norm, pre, opts = HF_VARIANTS[variant]
    tok = tokenizers.Tokenizer(models.BPE(**opts))
    if norm == "seq":
        tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.NFKC()])
    elif norm is not None:
        tok.normalizer = norm()
    if pre == "bytelevel":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(
                    tokenizers.Regex(CL100K_HF_PATTERN), behavior="isolated", invert=False
                ),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=3000,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    if norm is None:
        tok.add_tokens(["<custom>"])  # a non-special added token (normalized=True by default)
    return tok


@pytest.fixture(scope="module")
def hf_trained(corpus_heads, tmp_path_factory) -> dict[str, tuple[tokenizers.Tokenizer, Path]]:
    """Per variant: an HF-trained tokenizer and its tokenizer.json (trained on 30 KB of every
    corpus file, so the vocabulary mixes scripts)."""
    folder = tmp_path_factory.mktemp("hf")
    texts = [t[:30_000] for t in corpus_heads.values()]
    out = {}
    for variant in HF_VARIANTS:
        hf = hf_train(variant, texts)
        path = folder / f"{variant}.json"
        hf.save(str(path))
        out[variant] = (hf, path)
    return out


def assert_same_as_hf(tok, hf, texts: dict[str, str]) -> None:
    for name, text in texts.items():
        want = hf.encode(text, add_special_tokens=False).ids
        got = tok.encode(text, allowed_special="all")
        assert got == want, f"{name}: {first_diff(got, want)}"
        assert tok.decode(got) == hf.decode(want, skip_special_tokens=False), name


@pytest.mark.parametrize("variant", HF_VARIANTS)
def test_hf_trained_tokenizer_json_gives_hf_ids(hf_trained, corpus_heads, variant):
    hf, path = hf_trained[variant]
    tok = bp.Tokenizer.from_file(path)
    assert tok.vocab_size == hf.get_vocab_size()
    assert tok.special_tokens[EOT] == hf.token_to_id(EOT) == 0  # HF puts them first
    assert_same_as_hf(tok, hf, corpus_heads)
    assert_same_as_hf(tok, hf, fixtures())
    text = with_eot(fixture_text("en_kjv"), every=5) + "<pad><custom>x<|endoftext|>"
    if variant == "bytelevel":
        assert tok.special_tokens["<custom>"] == hf.token_to_id("<custom>")
    assert_same_as_hf(tok, hf, {"with specials": text})


def test_hf_normalizers_apply(hf_trained):
    # decomposed é, the fi ligature, circled 1, fullwidth A
    text = "Cafe\u0301 \ufb01ne \u2460 \uff21"
    for variant in ("nfc", "nfkc_split", "seq_nfkc_ignore_merges"):
        hf, path = hf_trained[variant]
        tok = bp.Tokenizer.from_file(path)
        assert tok.encode(text) == hf.encode(text, add_special_tokens=False).ids, variant
    nfc = bp.Tokenizer.from_file(hf_trained["nfc"][1])
    assert nfc.decode(nfc.encode("e\u0301")) == "\u00e9"


@pytest.mark.parametrize("variant", HF_VARIANTS)
def test_bytepair_saved_hf_trained_file_gives_hf_ids(hf_trained, corpus_heads, variant, tmp_path):
    hf, path = hf_trained[variant]
    tok = bp.Tokenizer.from_file(path)
    tok.save(tmp_path / "again.json")
    again_hf = tokenizers.Tokenizer.from_file(str(tmp_path / "again.json"))
    again = bp.Tokenizer.from_file(tmp_path / "again.json")
    texts = {k: v[:50_000] for k, v in corpus_heads.items()}
    for name, text in texts.items():
        want = hf.encode(text, add_special_tokens=False).ids
        assert again_hf.encode(text, add_special_tokens=False).ids == want, name
        assert again.encode(text) == want, name
    assert again.special_tokens == tok.special_tokens


def test_bytepair_trained_and_saved_file_gives_hf_ids(corpus_heads, tmp_path):
    texts = [t[:30_000] for t in corpus_heads.values()]
    tok = bp.train_from_iterator(texts, 3000, pattern="cl100k", special_tokens=[EOT])
    tok.save(tmp_path / "t.json")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "t.json"))
    assert_same_as_hf(bp.Tokenizer.from_file(tmp_path / "t.json"), hf, fixtures())


def test_hf_file_with_unsupported_features_is_refused(hf_trained, tmp_path):
    _, path = hf_trained["bytelevel"]
    doc = json.loads(path.read_text())
    cases = {
        "Lowercase": ("normalizer", {"type": "Lowercase"}),
        "add_prefix_space": (
            "pre_tokenizer",
            {"type": "ByteLevel", "add_prefix_space": True, "use_regex": True},
        ),
        "Metaspace": ("decoder", {"type": "Metaspace", "replacement": "_"}),
        "truncation": ("truncation", {"max_length": 8, "strategy": "LongestFirst"}),
    }
    for want, (key, value) in cases.items():
        bad = dict(doc, **{key: value})
        p = tmp_path / f"{want}.json"
        p.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=want) as e:
            bp.Tokenizer.from_file(p)
        assert p.name in str(e.value)
    lstrip = json.loads(json.dumps(doc))
    lstrip["added_tokens"][0]["lstrip"] = True
    (tmp_path / "lstrip.json").write_text(json.dumps(lstrip))
    with pytest.raises(ValueError, match="lstrip"):
        bp.Tokenizer.from_file(tmp_path / "lstrip.json")
    with pytest.raises(ValueError, match="pattern"):
        bp.Tokenizer.from_file(path, pattern="gpt2")


# ---- GPT-2 vocab.json + merges.txt ----------------------------------------------------------


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (encoder.py of openai/gpt-2)."""
    bs = list(range(ord("!"), ord("~") + 1))
    bs += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs, strict=True)}


def bpe_parts(ranks: dict[bytes, int], token: bytes, max_rank: int) -> list[bytes]:
    """tiktoken's BPE of ``token`` with the tokens of rank < ``max_rank`` only."""
    parts = [bytes([b]) for b in token]
    while True:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < max_rank and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            return parts
        i = best[1]
        parts[i : i + 2] = [parts[i] + parts[i + 1]]


@pytest.fixture(scope="module")
def gpt2_ranks() -> dict[bytes, int]:
    path = VOCAB / "gpt2.tiktoken"
    if not path.is_file():
        pytest.skip(f"shared vocabularies not found at {VOCAB}")
    return tiktoken_load.load_tiktoken_bpe(str(path))


@pytest.fixture(scope="module")
def gpt2_files(gpt2_ranks, tmp_path_factory) -> tuple[Path, Path]:
    """GPT-2's encoder.json/vocab.bpe, written from the rank file the way GPT-2 shipped them."""
    folder = tmp_path_factory.mktemp("gpt2")
    table = bytes_to_unicode()
    spell = lambda b: "".join(table[x] for x in b)  # noqa: E731
    vocab = {spell(t): r for t, r in gpt2_ranks.items()}
    vocab[EOT] = len(gpt2_ranks)
    lines = ["#version: 0.2"]
    for t, r in sorted(gpt2_ranks.items(), key=lambda kv: kv[1]):
        if len(t) > 1:
            a, b = bpe_parts(gpt2_ranks, t, r)
            lines.append(f"{spell(a)} {spell(b)}")
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    # The files are GPT-2's format: tiktoken's own reader of that format gives the ranks back.
    back = tiktoken_load.data_gym_to_mergeable_bpe_ranks(
        str(folder / "merges.txt"), str(folder / "vocab.json")
    )
    assert back == gpt2_ranks
    return folder / "vocab.json", folder / "merges.txt"


def encoding(name: str, ranks: dict[bytes, int]) -> tiktoken.Encoding:
    """tiktoken's Encoding ``name`` offline: its pattern and specials with the given ranks."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(openai_public, "load_tiktoken_bpe", lambda *a, **k: ranks)
        spec = getattr(openai_public, name)()
    return tiktoken.Encoding(**spec)


def sample(corpus: dict[str, str], size: int) -> dict[str, str]:
    out = {k: v[:size] for k, v in corpus.items()}
    out.update(fixtures())
    return out


def test_gpt2_vocab_and_merges_give_tiktoken_ids(gpt2_files, gpt2_ranks, corpus_heads):
    vocab, merges = gpt2_files
    tt = encoding("r50k_base", gpt2_ranks)
    tok = bp.Tokenizer.from_files(vocab, merges, special_tokens="default")
    assert tok.vocab_size == tt.n_vocab
    assert tok.special_tokens == {EOT: 50256}
    hf = tokenizers.Tokenizer(models.BPE.from_file(str(vocab), str(merges)))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    for name, text in sample(corpus_heads, 50_000).items():
        ids = tok.encode(text)
        want = tt.encode_ordinary(text)
        assert ids == want, f"{name}: {first_diff(ids, want)}"
        assert hf.encode(text).ids == want, name
    text = "a" + EOT + "b"
    assert tok.encode(text, allowed_special="all") == tt.encode(text, allowed_special="all")


def test_gpt2_files_are_found_beside_each_other(gpt2_files):
    vocab, merges = gpt2_files
    want = bp.Tokenizer.from_files(vocab, merges).encode("Hello world, it's 2024!")
    for path in (vocab, merges, vocab.parent):
        assert bp.Tokenizer.from_file(path).encode("Hello world, it's 2024!") == want
    plain = bp.Tokenizer.from_file(vocab)
    assert plain.special_tokens == {}  # None: what the file says, and vocab.json says nothing
    assert bp.Tokenizer.from_file(vocab, special_tokens=[EOT]).special_tokens == {EOT: 50256}


# ---- the real tiktoken rank files --------------------------------------------------------------

REAL = {"gpt2": "gpt2", "cl100k_base": "cl100k_base", "o200k_base": "o200k_base"}


@functools.cache
def real_ranks(name: str) -> dict[bytes, int]:
    return tiktoken_load.load_tiktoken_bpe(str(VOCAB / f"{name}.tiktoken"))


@pytest.mark.parametrize("name", REAL)
def test_real_tiktoken_files_load_and_give_tiktoken_ids(name, corpus_heads):
    path = VOCAB / f"{name}.tiktoken"
    if not path.is_file():
        pytest.skip(f"shared vocabularies not found at {VOCAB}")
    encoding_name = "r50k_base" if name == "gpt2" else name
    tt = encoding(encoding_name, real_ranks(name))
    pattern = "r50k_base" if name == "gpt2" else name
    tok = bp.Tokenizer.from_file(path, pattern=pattern, special_tokens="default")
    assert tok.vocab_size == tt.n_vocab
    assert tok.special_tokens == tt._special_tokens
    assert tok.pattern == tt._pat_str
    same = bp.Tokenizer.from_tiktoken(path, pattern, special_tokens="default")
    assert same.special_tokens == tok.special_tokens
    for doc, text in sample(corpus_heads, 20_000).items():
        ids = tok.encode(text)
        want = tt.encode_ordinary(text)
        assert ids == want, f"{name} on {doc}: {first_diff(ids, want)}"
        assert tok.decode(ids) == text
    text = "x" + EOT + "y"
    assert tok.encode(text, allowed_special="all") == tt.encode(text, allowed_special="all")


@pytest.mark.parametrize("name", REAL)
def test_real_tiktoken_files_saved_as_tokenizer_json_keep_special_ids_in_hf(name, tmp_path):
    """cl100k's specials start at 100257 after 100256 regular tokens (and o200k's have gaps too):
    HF renumbers an added token that its model vocab lacks, so the saved file must list them
    there, as GPT-2's own tokenizer.json does; bytepair reads that file back unchanged."""
    path = VOCAB / f"{name}.tiktoken"
    if not path.is_file():
        pytest.skip(f"shared vocabularies not found at {VOCAB}")
    pattern = "r50k_base" if name == "gpt2" else name
    tok = bp.Tokenizer.from_file(path, pattern=pattern, special_tokens="default")
    tok.save(tmp_path / "t.json")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "t.json"))
    for text, want in tok.special_tokens.items():
        assert hf.token_to_id(text) == want, text
    text = "x" + "".join(f"{s} y{i}" for i, s in enumerate(tok.special_tokens)) + " \u00e9t\u00e9"
    want = tok.encode(text, allowed_special="all")
    assert hf.encode(text, add_special_tokens=False).ids == want
    back = bp.Tokenizer.from_file(tmp_path / "t.json")
    assert back.special_tokens == tok.special_tokens
    assert back.vocab_size == tok.vocab_size
    assert back.encode(text, allowed_special="all") == want
    back.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "t.json").read_bytes()


def test_tiktoken_file_needs_a_pattern(tmp_path):
    path = tmp_path / "tiny.tiktoken"
    path.write_text("".join(f"{base64.b64encode(bytes([b])).decode()} {b}\n" for b in range(256)))
    with pytest.raises(ValueError, match="pattern") as e:
        bp.Tokenizer.from_file(path)
    assert "tiny.tiktoken" in str(e.value)
    with pytest.raises(ValueError, match="default"):
        bp.Tokenizer.from_file(path, pattern=r"\w+|\s", special_tokens="default")
    with pytest.raises(ValueError, match="needs an id"):
        bp.Tokenizer.from_file(path, pattern="gpt2", special_tokens=["<x>"])
    tok = bp.Tokenizer.from_file(path, pattern="gpt2", special_tokens={"<x>": 256})
    assert tok.special_tokens == {"<x>": 256}
    assert tok.encode("ab") == [97, 98]
