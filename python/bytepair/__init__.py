"""bytepair: a fast byte-pair-encoding toolkit (Rust core, Python API).

Train byte-level BPE tokenizers on files or iterators, encode and decode, and save them as HF
``tokenizer.json`` or tiktoken rank files::

    import bytepair
    tok = bytepair.train(["corpus.txt"], vocab_size=32_000, pattern="o200k")
    ids = tok.encode("hello world")
    tok.save("tokenizer.json")
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Optional, Union

from . import _core
from . import dynamic as _dynamic
from .dynamic import DynamicBatch, dynamic_merge

__all__ = [
    "PATTERNS",
    "SAMPLE_CORPUS",
    "DynamicBatch",
    "MixtureResult",
    "PretokenCounts",
    "Tokenizer",
    "__version__",
    "count_pretokens",
    "dynamic_merge",
    "encode_corpus",
    "infer_mixture",
    "load_tokens",
    "merge_counts",
    "pretokenize",
    "train",
    "train_from_iterator",
    "train_superbpe",
]

__version__: str = _core.__version__

#: The path of the small sample corpus shipped with the package (King James Bible excerpt).
SAMPLE_CORPUS: Path = Path(__file__).with_name("data") / "sample.txt"

#: Pretokenizer presets accepted as ``pattern`` (any other string is compiled as a regex).
PATTERNS = ("gpt2", "cl100k", "o200k", "superbpe", "none")

PathLike = Union[str, "os.PathLike[str]"]
SpecialSet = Union[Literal["all"], Collection[str]]
#: ``special_tokens`` of the loaders: None (what the file says), ``"default"`` (the known ones),
#: ``{text: id}``, or names to look up in a ``vocab.json``.
SpecialTokensArg = Optional[Union[Literal["default"], Mapping[str, int], Iterable[str]]]


class Tokenizer:
    """A byte-level BPE tokenizer: vocabulary, ordered merges, pretokenizer, special tokens.

    Immutable and thread-safe; pickles by its ``tokenizer.json`` form. Token ids 0..255 are
    the single bytes; learned tokens follow in merge order; special tokens come last.
    """

    __slots__ = ("_core",)

    def __init__(self, core: _core.Tokenizer) -> None:
        if not isinstance(core, _core.Tokenizer):
            raise TypeError(
                "use bytepair.train(...), Tokenizer.from_file(...) or Tokenizer.from_tiktoken(...)"
            )
        self._core = core

    # ---- loading -----------------------------------------------------------------------
    @classmethod
    def from_file(
        cls,
        path: PathLike,
        *,
        pattern: Optional[str] = None,
        special_tokens: SpecialTokensArg = None,
    ) -> Tokenizer:
        """Load a tokenizer; the kind of file is told by its content, not its name.

        - HF ``tokenizer.json`` (byte-level BPE): everything comes from the file; features
          bytepair does not support raise ValueError naming them.
        - tiktoken rank file (``.tiktoken``): ``pattern`` is required, as in tiktoken: a preset
          or encoding name (``"gpt2"``/``"r50k_base"``, ``"p50k_base"``, ``"cl100k_base"``,
          ``"o200k_base"``) or a regex. ``special_tokens``: a dict ``{text: id}``, or
          ``"default"`` for the named encoding's own (e.g. cl100k_base's ``<|endoftext|>``,
          ``<|fim_prefix|>`` ...); None gives none.
        - GPT-2 ``vocab.json`` or ``merges.txt`` (the other file must sit beside it; else use
          :meth:`from_files`), or a folder holding ``tokenizer.json`` or both.

        Malformed or truncated files raise ValueError naming the file and the problem.
        """
        specials, default = _special_args(special_tokens)
        return cls(_core.Tokenizer.load(os.fspath(path), pattern, specials, default))

    @classmethod
    def from_files(
        cls,
        vocab: PathLike,
        merges: PathLike,
        *,
        pattern: str = "gpt2",
        special_tokens: SpecialTokensArg = None,
    ) -> Tokenizer:
        """Load GPT-2's ``vocab.json`` (``encoder.json``) and ``merges.txt`` (``vocab.bpe``).

        Encodes like HF ``BPE.from_file(vocab, merges)`` behind ``ByteLevel`` with ``pattern``
        (default GPT-2's). ``special_tokens``: names found in ``vocab.json`` (list), ``{text:
        id}``, or ``"default"`` (``<|endoftext|>`` if the file holds it); None gives none, and
        ``<|endoftext|>`` then stays an ordinary vocabulary entry.
        """
        specials, default = _special_args(special_tokens)
        return cls(
            _core.Tokenizer.load(os.fspath(vocab), pattern, specials, default, os.fspath(merges))
        )

    @classmethod
    def from_json(cls, text: str) -> Tokenizer:
        """Load from the text of a ``tokenizer.json``."""
        return cls(_core.Tokenizer.from_json(text))

    @classmethod
    def from_tiktoken(
        cls,
        path: PathLike,
        pattern: str,
        special_tokens: Optional[Union[Literal["default"], Mapping[str, int]]] = None,
    ) -> Tokenizer:
        """Load a tiktoken rank file; like tiktoken, the pattern and specials come from you
        (``special_tokens="default"``: those of the encoding ``pattern`` names)."""
        if special_tokens == "default":
            return cls(_core.Tokenizer.from_tiktoken(os.fspath(path), pattern, [], True))
        if special_tokens is not None and not isinstance(special_tokens, Mapping):
            raise TypeError("special_tokens must be a dict {text: id} or 'default'")
        specials = sorted((special_tokens or {}).items(), key=lambda kv: kv[1])
        return cls(_core.Tokenizer.from_tiktoken(os.fspath(path), pattern, specials))

    # ---- properties --------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Regular plus special tokens."""
        return self._core.vocab_size

    @property
    def pattern(self) -> Optional[str]:
        """The split regex (None for the ``none`` pretokenizer)."""
        return self._core.pattern

    @property
    def merge_rule(self) -> str:
        """How pieces that are not whole tokens merge: ``"merges"`` (HF: the listed merges, by
        rank), ``"whole_then_merges"`` (HF ``ignore_merges``) or ``"ranks"`` (tiktoken: any pair
        whose concatenation is a token, by the token's rank; tokenizers loaded from rank files).
        """
        return self._core.merge_rule()

    @property
    def pretokenizer(self) -> str:
        """``gpt2``, ``cl100k``, ``o200k``, ``none`` or ``custom``."""
        return self._core.pretokenizer

    @property
    def merges(self) -> list[tuple[bytes, bytes]]:
        """The merges in rank order, as byte pairs."""
        return self._core.merges()

    @property
    def special_tokens(self) -> dict[str, int]:
        return self._core.special_tokens()

    @property
    def train_stats(self) -> Optional[dict[str, Any]]:
        """Figures of the training run (None for a loaded tokenizer)."""
        return self._core.train_stats()

    def get_vocab(self) -> dict[bytes, int]:
        """Regular tokens (bytes -> id), special tokens excluded."""
        return self._core.get_vocab()

    def token_to_id(self, token: Union[bytes, str]) -> Optional[int]:
        """The id of a token given as bytes, or as str (UTF-8; special tokens too)."""
        if isinstance(token, str):
            token = token.encode("utf-8")
        return self._core.token_to_id(token)

    def id_to_token(self, id: int) -> bytes:
        """The bytes of a token id (a special token gives its UTF-8 text)."""
        return self._core.id_to_token(id)

    # ---- encoding ----------------------------------------------------------------------
    def _special_sets(
        self, allowed_special: SpecialSet, disallowed_special: SpecialSet
    ) -> tuple[list[str], list[str]]:
        """tiktoken's rule: ``allowed`` tokens become ids; text holding a ``disallowed`` token
        raises ValueError (checked in Rust); any other special token is plain text."""
        specials = self._core.special_tokens()
        if isinstance(allowed_special, str) and allowed_special != "all":
            raise TypeError("allowed_special must be 'all' or a collection of str")
        if isinstance(disallowed_special, str) and disallowed_special != "all":
            raise TypeError("disallowed_special must be 'all' or a collection of str")
        allowed = list(specials) if allowed_special == "all" else list(allowed_special)
        for s in allowed:
            if s not in specials:
                raise ValueError(f"{s!r} is not a special token of this tokenizer")
        if disallowed_special == "all":
            allowed_set = set(allowed)
            disallowed = [s for s in specials if s not in allowed_set]
        else:
            disallowed = list(disallowed_special)
        return allowed, disallowed

    def encode(
        self,
        text: str,
        *,
        allowed_special: SpecialSet = (),
        disallowed_special: SpecialSet = "all",
        num_threads: Optional[int] = 1,
    ) -> list[int]:
        """Encode text. Special-token handling follows tiktoken: text that contains a special
        token raises unless that token is allowed (then it becomes its id) or not disallowed
        (then it is encoded as plain text). ``num_threads`` > 1 (None = all cores) encodes a
        large text (>= 1 MB) in parallel chunks, with the same result."""
        allowed, disallowed = self._special_sets(allowed_special, disallowed_special)
        return self._core.encode(text, allowed, disallowed, num_threads)

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode text, treating special tokens as plain text."""
        return self._core.encode_ordinary(text)

    def count_tokens(
        self,
        text: str,
        *,
        allowed_special: SpecialSet = (),
        disallowed_special: SpecialSet = "all",
    ) -> int:
        """``len(encode(text, ...))`` without building the list."""
        allowed, disallowed = self._special_sets(allowed_special, disallowed_special)
        return self._core.count_tokens(text, allowed, disallowed)

    def encode_batch(
        self,
        texts: Iterable[str],
        *,
        num_threads: Optional[int] = None,
        allowed_special: SpecialSet = (),
        disallowed_special: SpecialSet = "all",
    ) -> list[list[int]]:
        """Encode many texts in parallel (GIL released; ``num_threads`` None = all cores)."""
        allowed, disallowed = self._special_sets(allowed_special, disallowed_special)
        return self._core.encode_batch(_texts(texts), allowed, disallowed, num_threads)

    def encode_batch_numpy(
        self,
        texts: Iterable[str],
        *,
        num_threads: Optional[int] = None,
        allowed_special: SpecialSet = (),
        disallowed_special: SpecialSet = "all",
    ) -> tuple[Any, Any]:
        """Encode many texts in parallel into ``(ids, offsets)``: ``ids`` a flat
        ``np.ndarray[uint32]``, ``offsets`` an ``np.ndarray[int64]`` of ``len(texts) + 1``;
        text i is ``ids[offsets[i]:offsets[i + 1]]``. No Python object per token."""
        import numpy as np

        allowed, disallowed = self._special_sets(allowed_special, disallowed_special)
        ids, offsets = self._core.encode_batch_flat(
            _texts(texts), allowed, disallowed, num_threads
        )
        return np.frombuffer(ids, dtype=np.uint32), np.frombuffer(offsets, dtype=np.int64)

    def encode_batch_dynamic(
        self,
        texts: Iterable[str],
        *,
        merges: Optional[int] = None,
        target_reduction: Optional[float] = None,
        boundary: Literal["pretoken", "word", "none"] = "pretoken",
        min_count: int = 2,
        num_threads: Optional[int] = None,
        allowed_special: SpecialSet = (),
        disallowed_special: SpecialSet = "all",
    ) -> DynamicBatch:
        """Encode a batch, then shorten it by merges learned on the batch itself (dynamic
        tokenization, arXiv 2411.18553); see :func:`bytepair.dynamic_merge` for the rules.

        Give ``merges`` (a number of merges) and/or ``target_reduction`` (share of tokens to
        remove, 0..1). ``boundary``: merges stay inside a ``"pretoken"`` of this tokenizer's
        pattern, inside a ``"word"`` (at most one leading whitespace character, then
        non-whitespace), or anywhere in a text (``"none"``); special tokens never merge. New ids
        start at ``vocab_size``. Returns a :class:`bytepair.DynamicBatch`."""
        allowed, disallowed = self._special_sets(allowed_special, disallowed_special)
        return _dynamic.encode_batch_dynamic(
            self, _str_list(texts), allowed, disallowed, merges=merges,
            target_reduction=target_reduction, boundary=boundary, min_count=min_count,
            num_threads=num_threads,
        )

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes of a sequence of ids. Invalid ids raise ValueError."""
        return self._core.decode_bytes(_id_list(ids))

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """Decode ids to text; bytes that are not valid UTF-8 follow ``errors``."""
        return self._core.decode_bytes(_id_list(ids)).decode("utf-8", errors=errors)

    def decode_batch(self, batch: Iterable[Iterable[int]], errors: str = "replace") -> list[str]:
        """``decode`` of each id sequence."""
        raw = self._core.decode_bytes_batch([_id_list(ids) for ids in batch])
        return [b.decode("utf-8", errors=errors) for b in raw]

    # ---- saving ------------------------------------------------------------------------
    def to_json(self) -> str:
        """The HF ``tokenizer.json`` text."""
        return self._core.to_json()

    def save(self, path: PathLike) -> None:
        """Save as HF ``tokenizer.json`` (atomic: a temp file renamed into place)."""
        self._core.save(os.fspath(path))

    def save_tiktoken(self, path: PathLike) -> None:
        """Save the regular tokens as a tiktoken rank file (atomic). Load it in tiktoken with
        ``pat_str=tok.pattern`` and ``special_tokens=tok.special_tokens``."""
        self._core.save_tiktoken(os.fspath(path))

    # ---- python protocol ---------------------------------------------------------------
    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        # tokenizer.json cannot say "tiktoken's rank rule", so the rule travels beside it.
        return (_from_state, (self.to_json(), self._core.merge_rule()))

    def __repr__(self) -> str:
        return (
            f"<bytepair.Tokenizer vocab_size={self.vocab_size} "
            f"pretokenizer={self.pretokenizer!r} specials={len(self.special_tokens)}>"
        )


def _from_state(text: str, merge_rule: str) -> Tokenizer:
    """Unpickle: the ``tokenizer.json`` text and the encoder's merge rule."""
    return Tokenizer(_core.Tokenizer.from_json(text, "<pickle>", merge_rule))


def _special_args(
    special_tokens: SpecialTokensArg,
) -> tuple[Optional[list[tuple[str, Optional[int]]]], bool]:
    """The loaders' ``special_tokens`` as (list of (text, id or None), use the defaults)."""
    if special_tokens is None:
        return None, False
    if isinstance(special_tokens, str):
        if special_tokens == "default":
            return None, True
        raise TypeError("special_tokens must be 'default', a dict {text: id} or a list of str")
    if isinstance(special_tokens, Mapping):
        items: list[tuple[str, Optional[int]]] = [(s, int(i)) for s, i in special_tokens.items()]
        return sorted(items, key=lambda kv: kv[1] or 0), False
    out: list[tuple[str, Optional[int]]] = []
    for s in special_tokens:
        if not isinstance(s, str):
            raise TypeError(f"special tokens must be str, got {type(s).__name__}")
        out.append((s, None))
    return out, False


def _str_list(texts: Iterable[str]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be an iterable of str, not a single str/bytes")
    return list(texts)


def _texts(texts: Iterable[str]) -> Sequence[str]:
    """The texts as a list or tuple (as given if they are exactly one; anything else, subclasses
    included, is iterated into a list): the native batch encoders read them once, holding a
    reference to each str of a list (its items may change meanwhile) and borrowing a tuple's
    strs as they are."""
    if type(texts) is list or type(texts) is tuple:
        return texts
    return _str_list(texts)


def _id_list(ids: Iterable[int]) -> list[int]:
    """A list of ints (numpy arrays of any integer type included)."""
    tolist = getattr(ids, "tolist", None)
    return list(tolist() if callable(tolist) else ids)


def _as_paths(files: Any) -> Optional[list[str]]:
    """Paths if ``files`` names files (a path, or a list/tuple of paths); else None."""
    if isinstance(files, (str, os.PathLike)):
        return [os.fspath(files)]
    if isinstance(files, (list, tuple)):
        if all(isinstance(f, (str, os.PathLike)) for f in files):
            return [os.fspath(f) for f in files]
        raise TypeError("a list of inputs must hold only paths (str or os.PathLike)")
    return None


def train(
    files: Union[PathLike, Iterable[PathLike], Iterable[str], None] = None,
    vocab_size: Optional[int] = None,
    *,
    pattern: str = "o200k",
    special_tokens: Iterable[str] = (),
    min_frequency: int = 2,
    max_token_length: Optional[int] = None,
    num_threads: Optional[int] = None,
    progress: Optional[bool] = None,
    errors: str = "strict",
    from_counts: Optional[Iterable[Union[PathLike, _core.PretokenCounts]]] = None,
) -> Tokenizer:
    """Train a byte-level BPE tokenizer.

    ``files``: a path or a list/tuple of paths (UTF-8 text, streamed: memory grows with the
    number of distinct pretokens, not the corpus size); any other iterable (generator,
    iterator, dataset column) of str is read as documents, as by :func:`train_from_iterator`.

    ``vocab_size`` counts the 256 byte tokens, the learned tokens and the special tokens.
    ``pattern``: ``"gpt2"``, ``"cl100k"``, ``"o200k"``, ``"none"`` or a regex.
    ``min_frequency``: pairs seen fewer times are never merged (training may stop early).
    ``max_token_length``: no token longer than this many bytes is created.
    ``num_threads``: default all cores. ``progress``: None = a bar only on a terminal.
    ``errors``: ``"strict"`` (invalid UTF-8 raises, naming file and byte offset) or
    ``"replace"`` (U+FFFD).

    Ties between equally frequent pairs go to the smallest ``(left id, right id)``; the result
    does not depend on the number of threads or on how the text is split into files.

    ``from_counts`` (instead of ``files``): pretoken counts (:class:`PretokenCounts` objects or
    saved count files, e.g. one per shard from :func:`count_pretokens`), merged and trained on;
    the same merges as training on the text they were counted from. ``pattern`` must be the
    counts' pattern and ``special_tokens`` the set they were counted with.
    """
    if vocab_size is None:
        raise TypeError("train() needs vocab_size")
    if from_counts is not None:
        if files is not None:
            raise TypeError("give files or from_counts, not both")
        return _train_from_counts(
            from_counts, vocab_size, pattern, special_tokens, min_frequency, max_token_length,
            progress,
        )
    if files is None:
        raise TypeError("train() needs files (paths or an iterable of str) or from_counts")
    paths = _as_paths(files)
    if paths is None:
        if isinstance(files, (bytes, bytearray)):
            raise TypeError("train() takes paths or an iterable of str, not bytes")
        return train_from_iterator(
            files,  # type: ignore[arg-type]
            vocab_size,
            pattern=pattern,
            special_tokens=special_tokens,
            min_frequency=min_frequency,
            max_token_length=max_token_length,
            num_threads=num_threads,
            progress=progress,
        )
    _check_common(vocab_size, min_frequency, max_token_length)
    if errors not in ("strict", "replace"):
        raise ValueError(f"errors must be 'strict' or 'replace', not {errors!r}")
    if not paths:
        raise ValueError("no input files given")
    core = _core.train_files(
        paths,
        vocab_size,
        pattern,
        _specials(special_tokens),
        min_frequency,
        max_token_length,
        num_threads,
        progress,
        errors,
    )
    return Tokenizer(core)


def _train_from_counts(
    from_counts: Iterable[Union[PathLike, _core.PretokenCounts]],
    vocab_size: int,
    pattern: str,
    special_tokens: Iterable[str],
    min_frequency: int,
    max_token_length: Optional[int],
    progress: Optional[bool],
) -> Tokenizer:
    from .corpus import merge_counts

    _check_common(vocab_size, min_frequency, max_token_length)
    if isinstance(from_counts, (str, os.PathLike, _core.PretokenCounts)):
        from_counts = [from_counts]
    counts = merge_counts(from_counts)
    wanted = _core.PretokenCounts(pattern).pattern  # canonical: preset name or the regex
    if wanted != counts.pattern:
        raise ValueError(
            f"the counts were made with pattern {counts.pattern!r}, not {pattern!r}: "
            f"pass pattern={counts.pattern!r}"
        )
    core = _core.train_counts(
        counts, vocab_size, _specials(special_tokens), min_frequency, max_token_length, progress
    )
    return Tokenizer(core)


def train_from_iterator(
    texts: Iterable[str],
    vocab_size: int,
    *,
    pattern: str = "o200k",
    special_tokens: Iterable[str] = (),
    min_frequency: int = 2,
    max_token_length: Optional[int] = None,
    num_threads: Optional[int] = None,
    progress: Optional[bool] = None,
) -> Tokenizer:
    """Train on an iterable of str, each a whole document (see :func:`train`). The iterable is
    consumed once, in order, while worker threads count without the GIL."""
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be an iterable of str, not a single str/bytes")
    _check_common(vocab_size, min_frequency, max_token_length)
    core = _core.train_iter(
        texts,
        vocab_size,
        pattern,
        _specials(special_tokens),
        min_frequency,
        max_token_length,
        num_threads,
        progress,
    )
    return Tokenizer(core)


def _specials(special_tokens: Iterable[str]) -> list[str]:
    if isinstance(special_tokens, str):
        raise TypeError("special_tokens must be a list of str, not a single str")
    out = list(special_tokens)
    for s in out:
        if not isinstance(s, str):
            raise TypeError(f"special tokens must be str, got {type(s).__name__}")
    return out


def _check_common(vocab_size: int, min_frequency: int, max_token_length: Optional[int]) -> None:
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
        raise TypeError("vocab_size must be an int")
    if vocab_size < 0:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    if min_frequency < 0:
        raise ValueError(f"min_frequency must be >= 0, got {min_frequency}")
    if max_token_length is not None and max_token_length < 1:
        raise ValueError(f"max_token_length must be >= 1, got {max_token_length}")


def pretokenize(text: str, pattern: str = "o200k") -> list[str]:
    """Split ``text`` into pretokens with a preset or regex."""
    return _core.pretokenize(pattern, text)


# Imported last: these modules refer back to Tokenizer and the helpers above.
from .corpus import (  # noqa: E402
    PretokenCounts,
    count_pretokens,
    encode_corpus,
    load_tokens,
    merge_counts,
)
from .mixture import MixtureResult, infer_mixture  # noqa: E402
from .supertoken import train_superbpe  # noqa: E402
