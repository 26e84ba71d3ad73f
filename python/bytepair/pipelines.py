"""Batch functions for distributed data engines: Ray Data ``map_batches`` and HF
``datasets.map(batched=True)``.

Both engines ship the function to workers by pickling it; a :class:`~bytepair.Tokenizer`
pickles by its ``tokenizer.json`` text (about as large as the vocabulary file; no training
state), and :class:`~bytepair.PretokenCounts` by its count-file bytes. Each call encodes or
counts its whole batch in Rust with the GIL released, on ``num_threads`` threads (default 1 per
worker: the engine already runs one worker per core).

Encoding a dataset (Ray Data, local or on a cluster)::

    import ray, bytepair
    from bytepair.pipelines import EncodeBatch
    tok = bytepair.Tokenizer.from_file("tokenizer.json")
    ds = ray.data.read_parquet("s3://bucket/docs/")            # a "text" column
    ds = ds.map_batches(EncodeBatch(tok), batch_size=1024)     # adds "ids", "num_tokens"

Counting pretokens on the workers and training on one machine::

    from bytepair.pipelines import CountBatch, merge_count_column
    shards = ds.map_batches(CountBatch("o200k"), batch_size=4096)   # one row per batch
    counts = merge_count_column(row["counts"] for row in shards.iter_rows())
    tok = bytepair.train(vocab_size=32_000, from_counts=[counts], pattern="o200k")

HF ``datasets``::

    ds = ds.map(EncodeBatch(tok), batched=True, num_proc=4)
    parts = ds.map(CountBatch("o200k"), batched=True, remove_columns=ds.column_names)
    counts = merge_count_column(parts["counts"])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import pairwise
from typing import Any, Optional, Union

from . import Tokenizer, _core

__all__ = ["CountBatch", "EncodeBatch", "merge_count_column"]


def _texts(batch: Mapping[str, Any], column: str) -> list[str]:
    if column not in batch:
        raise KeyError(f"the batch has no column {column!r} (columns: {', '.join(batch)})")
    col = batch[column]
    tolist = getattr(col, "tolist", None)  # numpy / pandas / pyarrow columns
    values = tolist() if callable(tolist) else list(col)
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise TypeError(f"row {i} of column {column!r} is {type(v).__name__}, not str")
    return values


class EncodeBatch:
    """``batch -> batch + {output: ids per row, "num_tokens": ...}``.

    ``eot``: None (default) = no end-of-text id; True = append ``<|endoftext|>``; or a token
    text or id. Ids are numpy ``uint16`` arrays when the vocabulary fits, else ``uint32``.
    Special-token text inside a row is encoded as ordinary text. ``keep_columns``: return the
    input columns too (HF ``map`` keeps them anyway; Ray replaces the batch by the output).
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        column: str = "text",
        output: str = "ids",
        *,
        eot: Union[str, int, bool, None] = None,
        num_threads: Optional[int] = 1,
        keep_columns: bool = True,
    ) -> None:
        from .corpus import _resolve_eot

        self.tokenizer = tokenizer
        self.column = column
        self.output = output
        self.eot_id = _resolve_eot(tokenizer, eot)
        self.num_threads = num_threads
        self.keep_columns = keep_columns
        self.itemsize = 2 if tokenizer.vocab_size <= 1 << 16 else 4

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        import numpy as np

        texts = _texts(batch, self.column)
        data, lengths, _ = _core.encode_documents_packed(
            self.tokenizer._core, texts, self.eot_id, self.itemsize, [], [], self.num_threads
        )
        ids = np.frombuffer(data, dtype="<u2" if self.itemsize == 2 else "<u4")
        n = np.frombuffer(lengths, dtype=np.int64)
        bounds = np.concatenate(([0], np.cumsum(n)))
        out: dict[str, Any] = dict(batch) if self.keep_columns else {}
        out[self.output] = [ids[a:b] for a, b in pairwise(bounds)]
        out["num_tokens"] = n.copy()
        return out


class CountBatch:
    """``batch -> {"counts": [count-file bytes]}``: one row holding the batch's pretoken
    counts (merge them with :func:`merge_count_column`). Counts as training does: special
    tokens are cut out, each row is a document."""

    def __init__(
        self,
        pattern: str = "o200k",
        special_tokens: Iterable[str] = (),
        column: str = "text",
        *,
        num_threads: Optional[int] = 1,
    ) -> None:
        self.pattern = pattern
        self.special_tokens = list(special_tokens)
        self.column = column
        self.num_threads = num_threads
        _core.PretokenCounts(pattern, self.special_tokens)  # check the pattern now

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        c = _core.PretokenCounts(self.pattern, self.special_tokens)
        c.add_texts(_texts(batch, self.column), self.num_threads)
        return {"counts": [c.to_bytes()]}


def merge_count_column(blobs: Iterable[Any]) -> _core.PretokenCounts:
    """Merge count-file bytes (e.g. the ``counts`` column of :class:`CountBatch`'s output)."""
    out: Optional[_core.PretokenCounts] = None
    for b in blobs:
        c = _core.PretokenCounts.from_bytes(bytes(b))
        if out is None:
            out = _core.PretokenCounts(c.pattern, c.special_tokens)
        out.merge(c)
    if out is None:
        raise ValueError("no counts to merge")
    return out
