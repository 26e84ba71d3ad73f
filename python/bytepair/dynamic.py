"""Dynamic batch-level merging (arXiv 2411.18553): shorten a batch with BPE merges learned on it.

Repeat: count every adjacent pair occurrence in the batch whose merge would not cross a boundary,
take the most frequent pair (ties: the pair whose first such occurrence comes first in the batch,
by sequence then position), replace its non-overlapping occurrences left to right by a new
batch-local id (``vocab_size``, ``vocab_size + 1``, ...). Stop after ``merges`` merges, when
``target_reduction`` of the tokens is gone, or when no pair occurs ``min_count`` times.

:func:`dynamic_merge` takes sequences from any tokenizer; :meth:`bytepair.Tokenizer.
encode_batch_dynamic` encodes texts and cuts them at pretokens, words or nowhere. Both return a
:class:`DynamicBatch`. The work runs in Rust on the merge engine (incremental counts, no
recount per merge), with the GIL released.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Optional

from . import _core

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from . import Tokenizer

__all__ = ["DynamicBatch", "dynamic_merge"]

#: ``boundary`` values of :meth:`bytepair.Tokenizer.encode_batch_dynamic`.
BOUNDARIES = ("pretoken", "word", "none")


class DynamicBatch:
    """A batch after dynamic merging.

    Attributes (numpy arrays are read-only views of the native buffers):

    - ``ids`` (uint32) and ``offsets`` (int64, one per sequence plus one): sequence ``i`` is
      ``ids[offsets[i]:offsets[i + 1]]``; ids ``>= vocab_size`` are new, batch-local tokens.
    - ``word_starts`` (bool, one per id): True where a token may not be merged with the one
      before it (first token of each sequence, pretoken, word or special token).
    - ``parents`` (uint32, ``(num_merges, 2)``): new id ``vocab_size + k`` joins
      ``parents[k, 0]`` and ``parents[k, 1]`` (base or earlier new ids).
    - ``merge_counts`` (int64): how often each merged pair occurred when it was chosen.
    - ``new_base_ids`` (uint32) and ``new_base_offsets`` (int64): new id ``vocab_size + k`` is
      the base ids ``new_base_ids[new_base_offsets[k]:new_base_offsets[k + 1]]``.
    - ``new_token_bytes``: the bytes of each new id (None when the base vocabulary is unknown).
    - ``num_merges``, ``tokens_before``, ``tokens_after``, ``reduction`` (share of tokens
      removed, ``1 - after / before``).
    """

    __slots__ = (
        "_decode",
        "ids",
        "merge_counts",
        "new_base_ids",
        "new_base_offsets",
        "new_token_bytes",
        "offsets",
        "parents",
        "tokens_after",
        "tokens_before",
        "vocab_size",
        "word_starts",
    )

    ids: npt.NDArray[np.uint32]
    offsets: npt.NDArray[np.int64]
    word_starts: npt.NDArray[np.bool_]
    parents: npt.NDArray[np.uint32]
    merge_counts: npt.NDArray[np.int64]
    new_base_ids: npt.NDArray[np.uint32]
    new_base_offsets: npt.NDArray[np.int64]
    new_token_bytes: Optional[list[bytes]]
    vocab_size: int
    tokens_before: int
    tokens_after: int

    def __init__(
        self, raw: dict[str, Any], decode: Optional[Callable[[list[int]], bytes]] = None
    ) -> None:
        import numpy as np

        self.ids = np.frombuffer(raw["ids"], dtype=np.uint32)
        self.offsets = np.frombuffer(raw["offsets"], dtype=np.int64)
        self.word_starts = np.frombuffer(raw["word_starts"], dtype=np.uint8).view(np.bool_)
        self.parents = np.frombuffer(raw["parents"], dtype=np.uint32).reshape(-1, 2)
        self.merge_counts = np.frombuffer(raw["counts"], dtype=np.uint64).astype(np.int64)
        self.new_base_ids = np.frombuffer(raw["base_ids"], dtype=np.uint32)
        self.new_base_offsets = np.frombuffer(raw["base_offsets"], dtype=np.int64)
        self.new_token_bytes = raw["new_bytes"]
        self.vocab_size = int(raw["vocab_size"])
        self.tokens_before = int(raw["tokens_before"])
        self.tokens_after = int(raw["tokens_after"])
        self._decode = decode

    # ---- sizes --------------------------------------------------------------------------
    @property
    def num_merges(self) -> int:
        """Number of merges done = number of new ids."""
        return len(self.parents)

    @property
    def reduction(self) -> float:
        """Share of the tokens removed: ``1 - tokens_after / tokens_before`` (0.0 if empty)."""
        if self.tokens_before == 0:
            return 0.0
        return 1.0 - self.tokens_after / self.tokens_before

    @property
    def new_ids(self) -> range:
        """The new ids, ``vocab_size .. vocab_size + num_merges - 1``."""
        return range(self.vocab_size, self.vocab_size + self.num_merges)

    def __len__(self) -> int:
        """Number of sequences."""
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> npt.NDArray[np.uint32]:
        """The ids of sequence ``i``."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"sequence {i} out of range ({n} sequences)")
        i %= n
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    def sequences(self) -> list[npt.NDArray[np.uint32]]:
        """The ids of every sequence."""
        return [self[i] for i in range(len(self))]

    # ---- back to base tokens ------------------------------------------------------------
    def base_ids_of(self, token: int) -> npt.NDArray[np.uint32]:
        """The base ids a token stands for (itself if it is a base id)."""
        import numpy as np

        if 0 <= token < self.vocab_size:
            return np.array([token], dtype=np.uint32)
        k = token - self.vocab_size
        if not 0 <= k < self.num_merges:
            raise ValueError(
                f"token {token} is neither a base id (< {self.vocab_size}) nor a new id of "
                f"this batch (< {self.vocab_size + self.num_merges})"
            )
        return self.new_base_ids[self.new_base_offsets[k] : self.new_base_offsets[k + 1]]

    def to_base(self) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
        """The batch with every new id expanded: ``(ids, offsets)`` in the base vocabulary (the
        input of the merging, exactly)."""
        import numpy as np

        v = self.vocab_size
        new = self.ids >= v
        k = np.where(new, self.ids.astype(np.int64) - v, 0)
        lens = np.where(new, np.diff(self.new_base_offsets)[k] if self.num_merges else 1, 1)
        ends = np.cumsum(lens)
        total = int(ends[-1]) if len(ends) else 0
        tok = np.repeat(np.arange(len(self.ids)), lens)
        within = np.arange(total) - np.repeat(ends - lens, lens)
        out = self.ids[tok].copy()
        if self.num_merges:
            sel = new[tok]
            out[sel] = self.new_base_ids[self.new_base_offsets[k[tok[sel]]] + within[sel]]
        offsets = np.concatenate([[0], ends]).astype(np.int64)[self.offsets]
        return out, offsets

    def decode_bytes(self, i: int) -> bytes:
        """The bytes of sequence ``i`` (needs the base vocabulary: a batch from a tokenizer, or
        ``dynamic_merge(..., tokenizer=...)`` / ``token_bytes=...``)."""
        if self._decode is None:
            raise ValueError(
                "this batch does not know its base vocabulary: pass tokenizer= or token_bytes= "
                "to dynamic_merge"
            )
        seq = self[i]
        out = []
        for t in seq.tolist():
            out.extend(self.base_ids_of(t).tolist())
        return self._decode(out)

    def decode(self, i: int, errors: str = "replace") -> str:
        """The text of sequence ``i`` (see :meth:`decode_bytes`)."""
        return self.decode_bytes(i).decode("utf-8", errors=errors)

    # ---- embeddings ---------------------------------------------------------------------
    def new_embeddings(self, base: npt.ArrayLike) -> npt.NDArray[Any]:
        """Initial embeddings of the new ids, shape ``(num_merges, dim)``: each is the mean of
        the rows of ``base`` (the model's embedding matrix, one row per base id) of the base
        tokens it stands for. A floating ``base`` keeps its dtype; an integer one gives
        float64."""
        import numpy as np

        e = np.asarray(base)
        if e.ndim != 2:
            raise ValueError(f"base embeddings must be a 2-D matrix, got shape {e.shape}")
        if self.num_merges == 0:
            return np.zeros((0, e.shape[1]), dtype=e.dtype if e.dtype.kind == "f" else float)
        top = int(self.new_base_ids.max())
        if top >= e.shape[0]:
            raise ValueError(
                f"base embeddings have {e.shape[0]} rows but base id {top} is used by a new "
                "token"
            )
        acc = np.float64 if e.dtype.kind != "f" or e.itemsize < 4 else e.dtype
        sums = np.add.reduceat(e[self.new_base_ids].astype(acc), self.new_base_offsets[:-1], 0)
        mean = sums / np.diff(self.new_base_offsets)[:, None]
        return mean.astype(e.dtype if e.dtype.kind == "f" else np.float64)

    def embedding_matrix(self, base: npt.ArrayLike) -> npt.NDArray[Any]:
        """``base[:vocab_size]`` followed by :meth:`new_embeddings`: row ``i`` embeds id ``i``
        for every id of the batch, so ``matrix[batch.ids]`` is the model's input."""
        import numpy as np

        e = np.asarray(base)
        if e.ndim != 2 or e.shape[0] < self.vocab_size:
            raise ValueError(
                f"base embeddings must have at least vocab_size={self.vocab_size} rows, "
                f"got shape {e.shape}"
            )
        new = self.new_embeddings(e)
        return np.concatenate([e[: self.vocab_size].astype(new.dtype), new])

    def __repr__(self) -> str:
        return (
            f"<bytepair.DynamicBatch sequences={len(self)} merges={self.num_merges} "
            f"tokens {self.tokens_before} -> {self.tokens_after} "
            f"(reduction {self.reduction:.1%})>"
        )


# ---- argument checks --------------------------------------------------------------------
def _check_stop(
    merges: Optional[int], target_reduction: Optional[float], min_count: int
) -> None:
    if merges is None and target_reduction is None:
        raise TypeError("give merges=m (a number of merges) or target_reduction=r (0..1)")
    if merges is not None:
        if isinstance(merges, bool) or not isinstance(merges, numbers.Integral):
            raise TypeError(f"merges must be an int, got {type(merges).__name__}")
        if merges < 0:
            raise ValueError(f"merges must be >= 0, got {merges}")
    if target_reduction is not None:
        if isinstance(target_reduction, bool) or not isinstance(target_reduction, numbers.Real):
            raise TypeError(
                f"target_reduction must be a number, got {type(target_reduction).__name__}"
            )
        if not 0.0 <= float(target_reduction) <= 1.0:
            raise ValueError(f"target_reduction must be in [0, 1], got {target_reduction}")
    if isinstance(min_count, bool) or not isinstance(min_count, numbers.Integral):
        raise TypeError(f"min_count must be an int, got {type(min_count).__name__}")
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")


def _id_array(ids: Any, what: str) -> npt.NDArray[np.uint32]:
    """``ids`` as a 1-D uint32 array, or a ValueError/TypeError naming the bad entry."""
    import numpy as np

    a = np.asarray(ids)
    if a.dtype == np.uint32 and a.ndim == 1:
        return np.ascontiguousarray(a)  # every value fits; the core checks the vocabulary
    if a.size == 0:
        return np.zeros(0, dtype=np.uint32)
    if a.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {a.shape}")
    if a.dtype.kind not in "iu":
        raise TypeError(f"{what} must hold integers, got dtype {a.dtype}")
    if a.dtype.kind == "i" and a.min() < 0:
        i = int(np.argmax(a < 0))
        raise ValueError(f"{what}: token id {int(a[i])} at position {i} is negative")
    if a.max() > 0xFFFF_FFFE:
        i = int(np.argmax(a > 0xFFFF_FFFE))
        raise ValueError(f"{what}: token id {int(a[i])} at position {i} is too large")
    return np.ascontiguousarray(a, dtype=np.uint32)


def _flatten(
    ids: Any, offsets: Any, word_starts: Any
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64], Optional[npt.NDArray[np.uint8]]]:
    """Flat ``(ids, offsets, cuts)`` from flat arrays, or from one sequence per item."""
    import numpy as np

    if offsets is None:
        if isinstance(ids, (str, bytes)) or not isinstance(ids, (Sequence, np.ndarray)):
            raise TypeError(
                "without offsets, ids must be a sequence of id sequences (one per text)"
            )
        seqs = [_id_array(s, f"ids[{i}]") for i, s in enumerate(ids)]
        lens = [len(s) for s in seqs]
        flat = np.concatenate(seqs) if seqs else np.zeros(0, dtype=np.uint32)
        offs = np.concatenate([[0], np.cumsum(lens, dtype=np.int64)]).astype(np.int64)
        if word_starts is not None:
            if len(word_starts) != len(seqs):
                raise ValueError(
                    f"word_starts has {len(word_starts)} sequences but ids has {len(seqs)}"
                )
            parts = [np.asarray(w, dtype=bool).reshape(-1) for w in word_starts]
            for i, (w, n) in enumerate(zip(parts, lens, strict=True)):
                if len(w) != n:
                    raise ValueError(f"word_starts[{i}] has {len(w)} entries, ids[{i}] has {n}")
            word_starts = np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
        ids, offsets = flat, offs
    else:
        ids = _id_array(ids, "ids")
        o = np.asarray(offsets)
        if o.ndim != 1 or (o.size and o.dtype.kind not in "iu"):
            raise TypeError("offsets must be a 1-D integer array (one per sequence plus one)")
        offsets = np.ascontiguousarray(o, dtype=np.int64)
    cuts = None
    if word_starts is not None:
        w = np.asarray(word_starts)
        if w.ndim != 1 or (w.size and w.dtype.kind not in "biu"):
            raise TypeError("word_starts must be a 1-D bool array, one entry per id")
        cuts = np.ascontiguousarray(w, dtype=bool).view(np.uint8) if w.dtype == bool else \
            np.ascontiguousarray(w != 0).view(np.uint8)
    return ids, offsets, cuts


def dynamic_merge(
    ids: Any,
    offsets: Any = None,
    word_starts: Any = None,
    *,
    vocab_size: Optional[int] = None,
    merges: Optional[int] = None,
    target_reduction: Optional[float] = None,
    min_count: int = 2,
    tokenizer: Optional[Tokenizer] = None,
    token_bytes: Optional[Sequence[bytes]] = None,
) -> DynamicBatch:
    """Merge a batch of token sequences from any tokenizer dynamically.

    ``ids`` + ``offsets``: a flat integer array and the start of each sequence plus the end
    (``len(sequences) + 1`` entries, as :meth:`bytepair.Tokenizer.encode_batch_numpy` returns);
    or, with ``offsets=None``, one id sequence per item. ``word_starts`` (optional, same layout
    as ``ids``): True where a token may not be joined to the token before it (merges never cross
    it); None lets merges run across whole sequences.

    ``vocab_size``: new ids start here; every input id must be below it (default: the
    tokenizer's vocabulary size, or ``len(token_bytes)``). Stop after ``merges`` merges or once
    ``target_reduction`` (0..1) of the tokens are gone, whichever comes first; also when no pair
    occurs ``min_count`` times (``min_count=1``: merge while any pair is left, as the reference
    code does). ``tokenizer`` (a :class:`bytepair.Tokenizer`) or ``token_bytes`` (the bytes of
    each base id) give the new tokens' bytes and enable :meth:`DynamicBatch.decode`.
    """
    _check_stop(merges, target_reduction, min_count)
    if tokenizer is not None and token_bytes is not None:
        raise TypeError("give tokenizer or token_bytes, not both")
    decode: Optional[Callable[[list[int]], bytes]] = None
    core_tok = None
    table: Optional[list[bytes]] = None
    if tokenizer is not None:
        core_tok = tokenizer._core
        decode = core_tok.decode_bytes
        if vocab_size is None:
            vocab_size = tokenizer.vocab_size
    elif token_bytes is not None:
        table = [bytes(b) for b in token_bytes]
        if vocab_size is None:
            vocab_size = len(table)
        if len(table) < vocab_size:
            raise ValueError(
                f"token_bytes has {len(table)} entries, fewer than vocab_size={vocab_size}"
            )
        decode = _joiner(table)
    if vocab_size is None:
        raise TypeError("give vocab_size (new ids start there), tokenizer= or token_bytes=")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, numbers.Integral):
        raise TypeError(f"vocab_size must be an int, got {type(vocab_size).__name__}")
    if not 0 <= vocab_size < 0xFFFF_FFFF:
        raise ValueError(f"vocab_size must be in [0, 2^32 - 1), got {vocab_size}")
    flat, offs, cuts = _flatten(ids, offsets, word_starts)
    raw = _core.dynamic_merge(
        flat.tobytes(),
        offs.tobytes(),
        None if cuts is None else cuts.tobytes(),
        int(vocab_size),
        None if merges is None else int(merges),
        None if target_reduction is None else float(target_reduction),
        int(min_count),
        core_tok,
    )
    batch = DynamicBatch(raw, decode)
    if table is not None:
        join = _joiner(table)
        batch.new_token_bytes = [join(batch.base_ids_of(t).tolist()) for t in batch.new_ids]
    return batch


def _joiner(table: list[bytes]) -> Callable[[list[int]], bytes]:
    def join(seq: list[int]) -> bytes:
        return b"".join([table[i] for i in seq])

    return join


def encode_batch_dynamic(
    tokenizer: Tokenizer,
    texts: list[str],
    allowed: list[str],
    disallowed: list[str],
    *,
    merges: Optional[int],
    target_reduction: Optional[float],
    boundary: str,
    min_count: int,
    num_threads: Optional[int],
) -> DynamicBatch:
    """The body of :meth:`bytepair.Tokenizer.encode_batch_dynamic`."""
    _check_stop(merges, target_reduction, min_count)
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    core = tokenizer._core
    raw = _core.encode_batch_dynamic(
        core,
        texts,
        allowed,
        disallowed,
        boundary,
        None if merges is None else int(merges),
        None if target_reduction is None else float(target_reduction),
        int(min_count),
        num_threads,
    )
    return DynamicBatch(raw, core.decode_bytes)

