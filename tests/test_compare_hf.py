"""bytepair vs HF tokenizers' BpeTrainer on a few MB of real text.

The two break ties differently (HF numbers its byte alphabet in its own order), so the merge lists
are not equal; but the vocabularies must have the same size and compress held-out text alike.
"""

from __future__ import annotations

import pytest
import reference_bpe as ref
from helpers import EOT

bp = pytest.importorskip("bytepair")
tokenizers = pytest.importorskip("tokenizers")
from tokenizers import Regex, decoders, models, pre_tokenizers, trainers  # noqa: E402

TRAIN_BYTES = 3_000_000  # the King James Bible fills the first ~4 MB of en.txt
HELD_OUT = (3_000_000, 4_000_000)


def cut_lines(data: bytes) -> str:
    """The whole lines inside a slice of a file."""
    return data[data.index(b"\n") + 1 : data.rindex(b"\n") + 1].decode()


def hf_train(path, pattern: str, vocab_size: int, special_tokens, min_frequency=2):
    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(ref.PATTERNS[pattern]), "isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    # HF's vocab_size counts the byte alphabet and the special tokens too.
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=list(special_tokens), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    # Not tok.train(files): HF reads files line by line, and a line end changes the split of
    # "\n  1" under the gpt2 pattern ("\n ", " 1" in the whole text; "\n", " ", " 1" by lines).
    tok.train_from_iterator([path.read_text(encoding="utf-8")], trainer)
    return tok


# At 16000 the cl100k vocabulary is not filled: both stop when every pair count is below 2
# (at 14530 tokens for this corpus).
@pytest.mark.parametrize(("pattern", "vocab_size"), [("o200k", 8000), ("gpt2", 4000),
                                                     ("cl100k", 12000), ("cl100k", 16000)])
def test_bytes_per_token_close_to_hf(shared_corpus, tmp_path, pattern, vocab_size):
    en = (shared_corpus / "en.txt").read_bytes()
    path = tmp_path / "train.txt"
    path.write_bytes(en[: en.rindex(b"\n", 0, TRAIN_BYTES) + 1])
    held_out = cut_lines(en[HELD_OUT[0] : HELD_OUT[1]])

    ours = bp.train(path, vocab_size, pattern=pattern, special_tokens=[EOT])
    theirs = hf_train(path, pattern, vocab_size, [EOT])
    size = theirs.get_vocab_size(with_added_tokens=True)
    assert ours.vocab_size == size
    assert size == vocab_size or len(ours.merges) < vocab_size - 257

    n_bytes = len(held_out.encode())
    ours_bpt = n_bytes / len(ours.encode(held_out))
    theirs_bpt = n_bytes / len(theirs.encode(held_out, add_special_tokens=False).ids)
    assert ours_bpt == pytest.approx(theirs_bpt, rel=0.005), (ours_bpt, theirs_bpt)
    # Most tokens are shared; the differences are ties at the tail of the merge list.
    hf_tokens = {hf_token_bytes(t) for t in theirs.get_vocab() if t != EOT}
    shared = len(hf_tokens & set(ours.get_vocab()))
    assert shared >= 0.99 * (size - 1), shared


def hf_token_bytes(token: str) -> bytes:
    """HF ByteLevel maps each byte to a printable character (the GPT-2 table); invert it."""
    return bytes(_UNICODE_TO_BYTE[c] for c in token)


def _gpt2_byte_table() -> dict[str, int]:
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[chr(b)] = b
        else:
            table[chr(256 + extra)] = b
            extra += 1
    return table


_UNICODE_TO_BYTE = _gpt2_byte_table()
