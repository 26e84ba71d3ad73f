"""SuperBPE: tokens that cross whitespace (Liu et al. 2025, arXiv 2503.13423).

Stage 1 trains ordinary BPE up to ``transition`` tokens (exactly :func:`bytepair.train`'s
merges); stage 2 re-pretokenizes the same text with the superword delimiters, replays stage 1's
merges and continues to ``vocab_size``, refusing merges whose token would span more than
``max_words`` words or contain a colon followed by a space. The result is an ordinary
:class:`bytepair.Tokenizer` (stage-2 pretokenizer, merges of both stages by rank)::

    import bytepair
    tok = bytepair.train_superbpe(["corpus.txt"], vocab_size=64_000, transition=48_000)
    tok.save("tokenizer.json")     # HF tokenizers loads it and encodes identically
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional, Union

from . import Tokenizer, _as_paths, _check_common, _core, _specials

__all__ = ["STAGE2_PATTERN", "train_superbpe", "train_superbpe_with_stats"]

#: SuperBPE's stage-2 delimiters (PythonNut/superbpe, ``scripts/extend_tokenizer.sh``), used as
#: HF ``Split(Regex, "Isolated")``: matches and the text between them are the pieces. bytepair
#: splits with it through a hand-written scanner (preset name ``"superbpe"``).
STAGE2_PATTERN = r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]{2,}[\r\n/]*| +(?!\S)"


def train_superbpe_with_stats(
    files: Union[str, Iterable[Any]],
    vocab_size: int,
    transition: int,
    *,
    max_words: Optional[int] = 4,
    no_colon_space: bool = True,
    pattern: str = "o200k",
    stage2_pattern: str = "superbpe",
    max_pretoken_words: Optional[int] = None,
    prune_below: int = 0,
    special_tokens: Iterable[str] = (),
    min_frequency: int = 2,
    max_token_length: Optional[int] = None,
    num_threads: Optional[int] = None,
    progress: Optional[bool] = None,
    errors: str = "strict",
) -> tuple[Tokenizer, dict[str, Any]]:
    """:func:`train_superbpe`, also returning the figures of both stages (timings, counts of
    pretokens, cuts and engine size, resident memory after counting and at the end)."""
    _check_common(vocab_size, min_frequency, max_token_length)
    for name, value in (("transition", transition), ("prune_below", prune_below)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int")
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    for name, opt in (("max_words", max_words), ("max_pretoken_words", max_pretoken_words)):
        if opt is not None and (not isinstance(opt, int) or isinstance(opt, bool) or opt < 1):
            raise ValueError(f"{name} must be a positive int or None, got {opt!r}")
    options: dict[str, Any] = {
        "vocab_size": vocab_size,
        "transition": transition,
        "pattern": pattern,
        "stage2_pattern": stage2_pattern,
        "max_words": max_words,
        "no_colon_space": bool(no_colon_space),
        "max_pretoken_words": max_pretoken_words,
        "prune_below": prune_below,
        "special_tokens": _specials(special_tokens),
        "min_frequency": min_frequency,
        "max_token_length": max_token_length,
        "num_threads": num_threads,
        "progress": progress,
    }
    paths = _as_paths(files)
    if paths is None:
        if isinstance(files, (bytes, bytearray)):
            raise TypeError("train_superbpe() takes paths or an iterable of str, not bytes")
        core, stats = _core.train_superbpe_iter(files, options)
    else:
        if errors not in ("strict", "replace"):
            raise ValueError(f"errors must be 'strict' or 'replace', not {errors!r}")
        if not paths:
            raise ValueError("no input files given")
        core, stats = _core.train_superbpe_files(paths, options, errors)
    return Tokenizer(core), stats


def train_superbpe(
    files: Union[str, Iterable[Any]],
    vocab_size: int,
    transition: int,
    *,
    max_words: Optional[int] = 4,
    no_colon_space: bool = True,
    pattern: str = "o200k",
    stage2_pattern: str = "superbpe",
    max_pretoken_words: Optional[int] = None,
    prune_below: int = 0,
    special_tokens: Iterable[str] = (),
    min_frequency: int = 2,
    max_token_length: Optional[int] = None,
    num_threads: Optional[int] = None,
    progress: Optional[bool] = None,
    errors: str = "strict",
) -> Tokenizer:
    """Train a SuperBPE tokenizer.

    ``files``: paths (streamed once; both stages are counted in the same pass) or an iterable
    of str documents. ``vocab_size`` and ``transition`` count bytes, learned tokens and special
    tokens, like :func:`bytepair.train`'s ``vocab_size``; stage 1 is exactly
    ``bytepair.train(files, transition, pattern=pattern, ...)``.

    Stage 2: ``stage2_pattern`` (``"superbpe"`` = :data:`STAGE2_PATTERN`, or any regex used as
    delimiters); ``max_words`` (paper: 4; None = no limit) bounds the words a new token spans,
    where words are the runs of bytes other than the space; ``no_colon_space`` (paper: True)
    refuses new tokens containing ``": "``.

    Memory approximations (off by default; see README "Supertokens"): ``max_pretoken_words``
    cuts stage-2 pieces after that many words; ``prune_below`` cuts pieces at junctions whose
    stage-1 pair occurs fewer times than that in the whole text (2 drops the pairs seen once).
    Refused junctions are always cut, which is exact.
    """
    tok, _ = train_superbpe_with_stats(
        files,
        vocab_size,
        transition,
        max_words=max_words,
        no_colon_space=no_colon_space,
        pattern=pattern,
        stage2_pattern=stage2_pattern,
        max_pretoken_words=max_pretoken_words,
        prune_below=prune_below,
        special_tokens=special_tokens,
        min_frequency=min_frequency,
        max_token_length=max_token_length,
        num_threads=num_threads,
        progress=progress,
        errors=errors,
    )
    return tok
