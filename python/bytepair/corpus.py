"""Corpus tokenization: read documents from text / JSON Lines / Parquet files (optionally gzip or
zstd compressed), encode them on all cores into a flat token file for memory-mapped LM training,
compare tokenizers on files, and count pretokens for distributed training.

Output of :func:`encode_corpus` for ``output="data/train"`` (a ``.bin`` suffix is dropped):

- ``data/train.bin``: every document's token ids followed by the end-of-text id, little-endian
  ``uint16`` when the vocabulary has at most 65,536 ids, else ``uint32``;
- ``data/train.idx``: little-endian ``int64`` token offsets, ``documents + 1`` of them: document
  ``i`` is ``tokens[idx[i]:idx[i + 1]]`` (its end-of-text id last);
- ``data/train.json``: metadata (format version, dtype, counts, tokenizer hash, inputs).

:func:`load_tokens` maps them back with ``np.memmap``. All three are written to temporary files
in the same folder and renamed only when everything succeeded (the metadata last, and an old
metadata file is removed first, so a dataset is complete exactly when its ``.json`` exists): an
error, a full disk or Ctrl-C leaves no partial output.

What a document is: a JSON Lines record's ``field``; a Parquet row's ``column``; for text files,
``doc_sep`` decides: ``"file"`` (default: the whole file), ``"blank-line"`` (paragraphs: the text
between runs of blank lines, i.e. ``re.split(r"\\r?\\n(?:[ \\t]*\\r?\\n)+", text)``), or
``"line"`` (each line without its line break). Empty documents are skipped. A whole file as
one document is streamed in pieces when the tokenizer's split is a preset pattern (cut points
where the split is exactly that of the whole text); else it is read whole. Special-token text
inside documents is encoded as ordinary text (``encode_ordinary``); only the separator is the
end-of-text id.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import queue
import re
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Optional, Union

from . import PathLike, Tokenizer, _core

__all__ = [
    "DOC_SEPS",
    "FORMATS",
    "BadInputError",
    "EncodeResult",
    "PretokenCounts",
    "corpus_stats",
    "count_pretokens",
    "encode_corpus",
    "iter_documents",
    "load_tokens",
    "merge_counts",
    "output_paths",
]

PretokenCounts = _core.PretokenCounts

FORMATS = ("auto", "text", "jsonl", "parquet")
DOC_SEPS = ("file", "blank-line", "line")
#: Version of the token-file layout written in the metadata.
TOKENS_FORMAT_VERSION = 1
_BLANK_LINES = re.compile(r"\r?\n(?:[ \t]*\r?\n)+")
_READ_CHARS = 4 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_EOT = "<|endoftext|>"


class BadInputError(ValueError):
    """Input that cannot be read as documents (names the file, and the line or row)."""


@dataclass
class _Bad:
    """Bad records skipped with ``skip_bad`` (the first few described)."""

    skip: bool
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def __call__(self, where: str, what: str) -> None:
        msg = f"{where}: {what}"
        if not self.skip:
            raise BadInputError(msg + " (pass --skip-bad / skip_bad=True to skip such records)")
        self.count += 1
        if len(self.examples) < 5:
            self.examples.append(msg)


# ---- reading ------------------------------------------------------------------------------


def _strip_compression(name: str) -> str:
    for suffix in (".gz", ".zst", ".zstd"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def detect_format(path: PathLike) -> str:
    """``jsonl`` for ``.jsonl``/``.ndjson``/``.json``, ``parquet`` for ``.parquet``, else
    ``text`` (a ``.gz``/``.zst`` suffix is looked through)."""
    name = _strip_compression(os.fspath(path).lower())
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    return "text"


def _open_binary(path: str) -> IO[bytes]:
    """The file's bytes, decompressed when it starts with a gzip or zstd magic number."""
    f = open(path, "rb")
    try:
        head = f.peek(4)[:4] if hasattr(f, "peek") else b""
        if head.startswith(_GZIP_MAGIC):
            f.close()
            return gzip.open(path, "rb")  # type: ignore[return-value]  # owns its file
        if head.startswith(_ZSTD_MAGIC):
            try:
                import zstandard
            except ImportError:
                raise BadInputError(
                    f"{path}: zstd-compressed input needs the zstandard package: "
                    "pip install 'bytepair[zstd]'"
                ) from None
            # Buffered: the zstd reader alone cannot iterate lines.
            return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(f, closefd=True))
    except BaseException:
        f.close()
        raise
    return f


def check_inputs(paths: Sequence[PathLike]) -> list[str]:
    """The paths as str, after checking that each is a readable file (fail before any work)."""
    if not paths:
        raise ValueError("no input files given")
    out = []
    for p in paths:
        s = os.fspath(p)
        if os.path.isdir(s):
            raise IsADirectoryError(f"{s}: is a directory, not an input file")
        if not os.path.exists(s):
            raise FileNotFoundError(f"{s}: no such file")
        if not os.access(s, os.R_OK):
            raise PermissionError(f"{s}: not readable (permission denied)")
        out.append(s)
    return out


def _text_reader(raw: IO[bytes], errors: str) -> io.TextIOWrapper:
    # newline="" keeps "\r\n" as it is: documents hold exactly the file's text.
    return io.TextIOWrapper(raw, encoding="utf-8", errors=errors, newline="")


_SEP_BYTES = re.compile(rb"\r?\n(?:[ \t]*\r?\n)+")
_BLANK_TAIL = re.compile(rb"[ \t\r]*\Z")
_LINE = re.compile(r"\r?\n")


def _last_boundary(buf: bytes, doc_sep: str) -> Optional[int]:
    """The last offset in ``buf`` where a document surely starts (whatever follows ``buf``), or
    None: after the last line break (``line``), or after the last separator that cannot grow
    with more blank lines from the next block (``blank-line``)."""
    if doc_sep == "line":
        i = buf.rfind(b"\n")
        return i + 1 if i >= 0 else None
    for start in (max(0, len(buf) - (64 << 10)), 0):
        # A scan that starts inside a separator finds its tail: the same end.
        ends = [m.end() for m in _SEP_BYTES.finditer(buf, start)]
        for end in reversed(ends):
            if not _BLANK_TAIL.match(buf, end):
                return end
        if start == 0:
            break
    return None


_PIECE_CUT = re.compile(rb"(?<=[!-~])\n(?=[A-Za-z])")


def _text_blocks(
    path: str, doc_sep: str, block_bytes: int, pieces: bool = False
) -> Iterator[tuple[bytes, int, bool]]:
    """The (decompressed) bytes of a text file in blocks of about ``block_bytes``, each ending
    at a document boundary, with their offsets and whether they end a document: splitting each
    block gives exactly the documents of the whole file. With ``file``, the whole file is one
    block, unless ``pieces``: then a large file comes in pieces cut where a preset pattern
    splits exactly as in the whole text (the caller's tokenizer must allow it), all but the
    last marked as not ending the document."""
    with _open_binary(path) as f:
        if doc_sep == "file" and not pieces:
            yield f.read(), 0, True
            return
        carry = b""
        offset = 0
        while True:
            block = f.read(block_bytes)
            buf = carry + block if carry else block
            if not block:
                if buf:
                    yield buf, offset, True
                return
            if doc_sep == "file":
                ms = list(_PIECE_CUT.finditer(buf, len(buf) // 2))
                cut: Optional[int] = ms[-1].end() if ms else None
            else:
                cut = _last_boundary(buf, doc_sep)
            if cut is None:
                carry = buf  # one long document (or piece): read on
                continue
            # In ``file`` mode the text after ``cut`` starts with a letter: never empty, so
            # the last piece (the one that ends the document) is never empty either.
            yield buf[:cut], offset, doc_sep != "file"
            offset += cut
            carry = buf[cut:]


def _decode(data: bytes, path: str, offset: int, errors: str) -> str:
    try:
        return data.decode("utf-8", errors)
    except UnicodeDecodeError as e:
        raise BadInputError(
            f"{path}: invalid UTF-8 at byte offset {offset + e.start}; pass --errors replace / "
            "errors='replace' to substitute U+FFFD"
        ) from None


def _text_documents(path: str, doc_sep: str, errors: str) -> Iterator[str]:
    if doc_sep not in DOC_SEPS:
        raise ValueError(f"doc_sep must be one of {', '.join(DOC_SEPS)}, not {doc_sep!r}")
    for data, offset, _ in _text_blocks(path, doc_sep, _READ_CHARS):
        text = _decode(data, path, offset, errors)
        if doc_sep == "file":
            parts = [text]
        elif doc_sep == "line":
            parts = _LINE.split(text)
        else:
            parts = _BLANK_LINES.split(text)
        for d in parts:
            if d:
                yield d


def _jsonl_documents(path: str, key: str, bad: _Bad) -> Iterator[str]:
    with _open_binary(path) as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(raw)
            except UnicodeDecodeError:
                bad(where, "invalid UTF-8")
                continue
            except json.JSONDecodeError as e:
                bad(where, f"malformed JSON ({e.msg} at column {e.colno})")
                continue
            if not isinstance(obj, dict):
                bad(where, f"expected a JSON object, got {type(obj).__name__}")
                continue
            if key not in obj:
                bad(where, f"no field {key!r} (fields: {', '.join(map(str, obj)) or 'none'})")
                continue
            value = obj[key]
            if not isinstance(value, str):
                bad(where, f"field {key!r} is {type(value).__name__}, not a string")
                continue
            if value:
                yield value


def _parquet_documents(path: str, column: str, bad: _Bad) -> Iterator[str]:
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise BadInputError(
            f"{path}: reading Parquet needs pyarrow: pip install 'bytepair[parquet]'"
        ) from None
    if _strip_compression(path) != path:
        raise BadInputError(
            f"{path}: a compressed Parquet file cannot be read (Parquet compresses its own "
            "columns; decompress the file first)"
        )
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:
        raise BadInputError(f"{path}: not a readable Parquet file ({e})") from None
    names = pf.schema_arrow.names
    if column not in names:
        raise BadInputError(f"{path}: no column {column!r} (columns: {', '.join(names)})")
    row = 0
    for batch in pf.iter_batches(batch_size=4096, columns=[column]):
        for value in batch.column(0).to_pylist():
            row += 1
            if not isinstance(value, str):
                what = "null" if value is None else type(value).__name__
                bad(f"{path}: row {row}", f"column {column!r} is {what}, not a string")
                continue
            if value:
                yield value


def iter_documents(
    path: PathLike,
    *,
    format: str = "auto",
    field: str = "text",
    column: str = "text",
    doc_sep: str = "file",
    errors: str = "strict",
    skip_bad: bool = False,
    bad: Optional[_Bad] = None,
) -> Iterator[str]:
    """The documents of one input file (see the module docs for what a document is).

    ``format``: ``auto`` (by extension), ``text``, ``jsonl`` or ``parquet``. gzip and zstd
    compression are recognised by content. Bad records (malformed JSON, missing field, null)
    raise :class:`BadInputError` naming ``file:line`` (or the Parquet row) unless ``skip_bad``.
    """
    p = os.fspath(path)
    fmt = detect_format(p) if format == "auto" else format
    if errors not in ("strict", "replace"):
        raise ValueError(f"errors must be 'strict' or 'replace', not {errors!r}")
    bad = bad if bad is not None else _Bad(skip_bad)
    if fmt == "text":
        if doc_sep not in DOC_SEPS:
            raise ValueError(f"doc_sep must be one of {', '.join(DOC_SEPS)}, not {doc_sep!r}")
        return _text_documents(p, doc_sep, errors)
    if fmt == "jsonl":
        return _jsonl_documents(p, field, bad)
    if fmt == "parquet":
        return _parquet_documents(p, column, bad)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")


def _batches(docs: Iterable[str], batch_bytes: int) -> Iterator[tuple[list[str], int]]:
    """Documents grouped into lists of about ``batch_bytes`` UTF-8 bytes (estimated from the
    character count; exact sizes are counted by the encoder)."""
    batch: list[str] = []
    size = 0
    for d in docs:
        batch.append(d)
        size += len(d)
        if size >= batch_bytes:
            yield batch, size
            batch, size = [], 0
    if batch:
        yield batch, size


class _ReadAhead:
    """Run an iterator on a thread, ``depth`` items ahead of the consumer (memory bound:
    ``depth`` + 2 batches). Exceptions are re-raised in the consumer; ``close()`` stops it."""

    _END = object()

    def __init__(self, it: Iterator[Any], depth: int = 2) -> None:
        self._q: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._it = it
        self._t = threading.Thread(target=self._run, name="bytepair-reader", daemon=True)
        self._t.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._it:
                if not self._put((True, item)):
                    return
            self._put((True, self._END))
        except BaseException as e:
            self._put((False, e))

    def __iter__(self) -> Iterator[Any]:
        while True:
            try:
                ok, item = self._q.get(timeout=0.1)
            except queue.Empty:
                continue  # (a timeout keeps Ctrl-C responsive)
            if not ok:
                raise item
            if item is self._END:
                return
            yield item

    def close(self) -> None:
        self._stop.set()
        self._t.join(timeout=5)


class _Background:
    """Run ``fn`` on a thread now; ``result()`` waits for it (and re-raises its error)."""

    def __init__(self, fn: Any) -> None:
        self._out: list[Any] = []
        self._err: list[BaseException] = []

        def run() -> None:
            try:
                self._out.append(fn())
            except BaseException as e:
                self._err.append(e)

        self._t = threading.Thread(target=run, daemon=True)
        self._t.start()

    def result(self) -> Any:
        self._t.join()
        if self._err:
            raise self._err[0]
        return self._out[0]


class _Progress:
    """One status line on stderr, redrawn at most 5 times a second; silent unless enabled."""

    def __init__(self, enabled: Optional[bool], label: str) -> None:
        self.on = sys.stderr.isatty() if enabled is None else enabled
        self.label = label
        self.t0 = time.perf_counter()
        self.last = 0.0

    def update(self, nbytes: int, tokens: int, docs: int, force: bool = False) -> None:
        if not self.on:
            return
        now = time.perf_counter()
        if not force and now - self.last < 0.2:
            return
        self.last = now
        secs = max(now - self.t0, 1e-9)
        sys.stderr.write(
            f"\r{self.label}: {nbytes / 1e6:,.1f} MB  {nbytes / 1e6 / secs:,.1f} MB/s  "
            f"{tokens:,} tokens  {docs:,} docs  "
        )
        sys.stderr.flush()

    def finish(self) -> None:
        if self.on:
            sys.stderr.write("\n")
            sys.stderr.flush()


# ---- encoding -----------------------------------------------------------------------------


def output_paths(output: PathLike) -> dict[str, Path]:
    """The token, index and metadata paths for ``output`` (a trailing ``.bin`` is dropped)."""
    base = os.fspath(output)
    if base.endswith(".bin"):
        base = base[:-4]
    return {
        "tokens": Path(base + ".bin"),
        "index": Path(base + ".idx"),
        "meta": Path(base + ".json"),
    }


def tokenizer_sha256(tok: Tokenizer) -> str:
    """SHA-256 of a canonical description of everything that decides how ``tok`` encodes:
    tokens in id order, merges, special tokens, split pattern, normalizer and merge rule
    (``rust/corpus/tokens.rs``, ``identity``). Equal tokenizers give equal hashes."""
    return hashlib.sha256(_core.tokenizer_identity(tok._core)).hexdigest()


def _resolve_eot(tok: Tokenizer, eot: Union[str, int, bool, None]) -> Optional[int]:
    if eot is False or eot is None:
        return None
    if eot is True:
        eot = _EOT
    if isinstance(eot, int):
        if not 0 <= eot < tok.vocab_size:
            raise ValueError(f"end-of-text id {eot} is outside the vocabulary ({tok.vocab_size})")
        return eot
    specials = tok.special_tokens
    if eot in specials:
        return specials[eot]
    tid = tok.token_to_id(eot)
    if tid is not None:
        return tid
    raise ValueError(
        f"the tokenizer has no token {eot!r} to separate documents (special tokens: "
        f"{', '.join(specials) or 'none'}); pass eot=<token or id> (--eot) or eot=False (--no-eot)"
    )


@dataclass
class EncodeResult:
    """What :func:`encode_corpus` wrote."""

    tokens_path: Path
    index_path: Path
    meta_path: Path
    meta: dict[str, Any]


def _sync_close(f: IO[bytes]) -> None:
    f.flush()
    os.fsync(f.fileno())
    f.close()


def encode_corpus(
    tokenizer: Tokenizer,
    inputs: Sequence[PathLike],
    output: PathLike,
    *,
    format: str = "auto",
    field: str = "text",
    column: str = "text",
    doc_sep: str = "file",
    eot: Union[str, int, bool, None] = True,
    errors: str = "strict",
    skip_bad: bool = False,
    num_threads: Optional[int] = None,
    batch_bytes: int = 8 << 20,
    progress: Optional[bool] = None,
) -> EncodeResult:
    """Encode the documents of ``inputs`` into a flat token file + index + metadata (see the
    module docs). ``eot``: True = ``<|endoftext|>`` (must exist), a token text or an id, or
    False for no separator. Streams in batches of about ``batch_bytes`` (read ahead on a
    thread while the batch before is encoded on ``num_threads`` threads, default all cores),
    so memory does not grow with the corpus. Atomic: on any error nothing is left behind."""
    paths = check_inputs(inputs)
    if batch_bytes < 1:
        raise ValueError("batch_bytes must be positive")
    for p in paths:  # fail on a bad option before creating anything
        fmt = detect_format(p) if format == "auto" else format
        if fmt not in FORMATS[1:]:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    if doc_sep not in DOC_SEPS:
        raise ValueError(f"doc_sep must be one of {', '.join(DOC_SEPS)}, not {doc_sep!r}")
    eot_id = _resolve_eot(tokenizer, eot)
    itemsize = 2 if tokenizer.vocab_size <= 1 << 16 else 4
    dtype = "uint16" if itemsize == 2 else "uint32"
    out = output_paths(output)
    folder = out["tokens"].parent
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder {folder} does not exist")
    tag = f".tmp.{os.getpid()}.{threading.get_ident()}"
    tmp = {k: p.with_name("." + p.name + tag) for k, p in out.items()}
    bad = _Bad(skip_bad)
    t0 = time.perf_counter()

    # A whole file as one document is streamed in pieces when that gives the same ids.
    pieces = _core.encodes_in_pieces(tokenizer._core)

    def work() -> Iterator[tuple[str, Any, str, int, bool]]:
        # Text files go to Rust as raw blocks cut at document boundaries (split, checked and
        # encoded there: no Python string per document); other formats as lists of documents.
        for p in paths:
            if (detect_format(p) if format == "auto" else format) == "text":
                for data, offset, ends in _text_blocks(p, doc_sep, batch_bytes, pieces):
                    yield "text", data, p, offset, ends
            else:
                docs = iter_documents(p, format=format, field=field, column=column, bad=bad)
                for batch, _ in _batches(docs, batch_bytes):
                    yield "docs", batch, p, 0, True

    sha = _Background(lambda: tokenizer_sha256(tokenizer))
    bar = _Progress(progress, "encode")
    reader = _ReadAhead(work())
    core = tokenizer._core
    n_tokens = n_docs = n_bytes = 0
    files: list[IO[bytes]] = []
    try:
        import numpy as np

        ftok = open(tmp["tokens"], "wb")
        files.append(ftok)
        fidx = open(tmp["index"], "wb")
        files.append(fidx)
        fidx.write(np.zeros(1, dtype="<i8").tobytes())
        for kind, payload, path, offset, ends in reader:
            if kind == "text":
                try:
                    data, lengths, nbytes = _core.encode_text_packed(
                        core, payload, doc_sep, eot_id if ends else None, itemsize, errors,
                        path, offset, num_threads,
                    )
                except ValueError as e:
                    if "invalid UTF-8" in str(e):
                        raise BadInputError(str(e)) from None
                    raise
            else:
                data, lengths, nbytes = _core.encode_documents_packed(
                    core, payload, eot_id, itemsize, [], [], num_threads
                )
            ftok.write(data)
            if ends:
                offsets = np.cumsum(np.frombuffer(lengths, dtype=np.int64)) + n_tokens
                fidx.write(offsets.astype("<i8").tobytes())
                n_docs += len(lengths) // 8
            n_tokens += len(data) // itemsize
            n_bytes += nbytes
            bar.update(n_bytes, n_tokens, n_docs)
        bar.update(n_bytes, n_tokens, n_docs, force=True)
        bar.finish()
        _sync_close(ftok)
        _sync_close(fidx)
        seconds = time.perf_counter() - t0
        meta: dict[str, Any] = {
            "format": "bytepair.tokens",
            "version": TOKENS_FORMAT_VERSION,
            "dtype": dtype,
            "byteorder": "little",
            "tokens": n_tokens,
            "documents": n_docs,
            "text_bytes": n_bytes,
            "eot_id": eot_id,
            "tokens_file": out["tokens"].name,
            "index_file": out["index"].name,
            "index_dtype": "int64",
            "tokenizer": {
                "sha256": sha.result(),
                "vocab_size": tokenizer.vocab_size,
                "pretokenizer": tokenizer.pretokenizer,
            },
            "inputs": paths,
            "input_format": format,
            "doc_sep": doc_sep,
            "skipped_bad": bad.count,
            "skipped_examples": bad.examples,
            "seconds": round(seconds, 3),
            "bytepair_version": _core.__version__,
        }
        with open(tmp["meta"], "w", encoding="utf-8") as fm:
            json.dump(meta, fm, indent=2)
            fm.write("\n")
            fm.flush()
            os.fsync(fm.fileno())
        # Publish: old metadata first goes away (no .json = not a complete dataset), then the
        # data files, then the new metadata.
        if out["meta"].exists():
            out["meta"].unlink()
        os.replace(tmp["tokens"], out["tokens"])
        os.replace(tmp["index"], out["index"])
        os.replace(tmp["meta"], out["meta"])
        return EncodeResult(out["tokens"], out["index"], out["meta"], meta)
    except BaseException:
        if bar.on:
            bar.finish()
        raise
    finally:
        reader.close()
        for f in files:
            if not f.closed:
                f.close()
        for tp in tmp.values():
            try:
                tp.unlink()
            except FileNotFoundError:
                pass


def load_tokens(output: PathLike) -> tuple[Any, Any, dict[str, Any]]:
    """``(tokens, index, meta)`` of an :func:`encode_corpus` output, as read-only
    ``np.memmap`` arrays (``index`` has ``documents + 1`` offsets)."""
    import numpy as np

    out = output_paths(output)
    meta = json.loads(out["meta"].read_text(encoding="utf-8"))
    if meta.get("format") != "bytepair.tokens":
        raise ValueError(f"{out['meta']}: not a bytepair token file's metadata")
    if meta.get("version", 0) > TOKENS_FORMAT_VERSION:
        raise ValueError(f"{out['meta']}: written by a newer bytepair (version {meta['version']})")
    dt = np.dtype(meta["dtype"]).newbyteorder("<")

    def mm(path: Path, dtype: Any, n: int) -> Any:
        if n == 0:
            return np.zeros(0, dtype=dtype)
        return np.memmap(path, dtype=dtype, mode="r", shape=(n,))

    tokens = mm(out["tokens"], dt, meta["tokens"])
    index = mm(out["index"], np.dtype("<i8"), meta["documents"] + 1)
    return tokens, index, meta


# ---- stats --------------------------------------------------------------------------------


def corpus_stats(
    tokenizers: dict[str, Tokenizer],
    inputs: Sequence[PathLike],
    *,
    format: str = "auto",
    field: str = "text",
    column: str = "text",
    doc_sep: str = "file",
    errors: str = "strict",
    skip_bad: bool = False,
    num_threads: Optional[int] = None,
    batch_bytes: int = 8 << 20,
) -> list[dict[str, Any]]:
    """Bytes per token, tokens per word and vocabulary use of each tokenizer on each file, plus
    a ``"file": "(all)"`` row per tokenizer. A word is a run of non-whitespace characters
    (``str.split()``); bytes are UTF-8 bytes of the documents; vocabulary use is the share of
    the tokenizer's ids that occur at least once."""
    import numpy as np

    paths = check_inputs(inputs)
    if not tokenizers:
        raise ValueError("give at least one tokenizer")
    rows: list[dict[str, Any]] = []
    total_used = {name: np.zeros(t.vocab_size, dtype=bool) for name, t in tokenizers.items()}
    totals = {name: [0, 0, 0, 0] for name in tokenizers}  # bytes, tokens, words, docs
    bad = _Bad(skip_bad)
    for p in paths:
        used = {name: np.zeros(t.vocab_size, dtype=bool) for name, t in tokenizers.items()}
        n_tokens = dict.fromkeys(tokenizers, 0)
        n_bytes = n_words = n_docs = 0
        docs = iter_documents(
            p, format=format, field=field, column=column, doc_sep=doc_sep, errors=errors, bad=bad
        )
        reader = _ReadAhead(_batches(docs, batch_bytes))
        try:
            for batch, _ in reader:
                n_docs += len(batch)
                n_words += sum(len(d.split()) for d in batch)
                for i, (name, tok) in enumerate(tokenizers.items()):
                    data, _lengths, nbytes = _core.encode_documents_packed(
                        tok._core, batch, None, 4, [], [], num_threads
                    )
                    if i == 0:
                        n_bytes += nbytes
                    ids = np.frombuffer(data, dtype="<u4")
                    used[name][ids] = True
                    n_tokens[name] += len(ids)
        finally:
            reader.close()
        for name, tok in tokenizers.items():
            rows.append(_stats_row(p, name, tok, n_bytes, n_tokens[name], n_words, n_docs,
                                   int(used[name].sum())))
            total_used[name] |= used[name]
            t = totals[name]
            t[0] += n_bytes
            t[1] += n_tokens[name]
            t[2] += n_words
            t[3] += n_docs
    if len(paths) > 1:
        for name, tok in tokenizers.items():
            b, n, w, d = totals[name]
            rows.append(_stats_row("(all)", name, tok, b, n, w, d, int(total_used[name].sum())))
    if bad.count:
        for r in rows:
            r["skipped_bad"] = bad.count
    return rows


def _stats_row(
    file: str, name: str, tok: Tokenizer, nbytes: int, tokens: int, words: int, docs: int,
    used: int,
) -> dict[str, Any]:
    return {
        "file": file,
        "tokenizer": name,
        "documents": docs,
        "bytes": nbytes,
        "words": words,
        "tokens": tokens,
        "bytes_per_token": nbytes / tokens if tokens else None,
        "tokens_per_word": tokens / words if words else None,
        "vocab_size": tok.vocab_size,
        "vocab_used": used,
        "vocab_use": used / tok.vocab_size,
    }


# ---- pretoken counts ----------------------------------------------------------------------

#: Cut points where every preset pattern splits a text exactly as the whole text: after a "\n"
#: that follows a printable ASCII character and precedes an ASCII letter (see
#: ``rust/encode/split.rs``).
_SAFE_CUT = re.compile(r"(?<=[!-~])\n(?=[A-Za-z])")


def _safe_pieces(path: str, errors: str) -> Iterator[str]:
    """A (compressed) text file as consecutive pieces cut only at safe points, so counting the
    pieces equals counting the whole file with a preset pattern."""
    with _open_binary(path) as raw, _text_reader(raw, errors) as f:
        carry = ""
        try:
            while True:
                block = f.read(_READ_CHARS)
                buf = carry + block
                if not block:
                    if buf:
                        yield buf
                    return
                cut = None
                for m in _SAFE_CUT.finditer(buf, max(0, len(buf) - _READ_CHARS // 2)):
                    cut = m.end()
                if cut is None:
                    carry = buf
                    continue
                yield buf[:cut]
                carry = buf[cut:]
        except UnicodeDecodeError as e:
            raise BadInputError(
                f"{path}: invalid UTF-8 ({e.reason}); pass --errors replace / errors='replace' "
                "to substitute U+FFFD"
            ) from None


def count_pretokens(
    inputs: Union[Sequence[PathLike], Iterable[str]],
    *,
    pattern: str = "o200k",
    special_tokens: Iterable[str] = (),
    format: str = "auto",
    field: str = "text",
    column: str = "text",
    errors: str = "strict",
    skip_bad: bool = False,
    num_threads: Optional[int] = None,
    batch_bytes: int = 8 << 20,
    progress: Optional[bool] = None,
) -> PretokenCounts:
    """Count the pretokens of files (a path, or a list/tuple of paths) or of any other
    iterable of documents (str: a generator, a dataset column), as training does: special
    tokens are cut out and not counted; a plain text file is counted as one text (like
    ``train([path])``); JSON Lines and Parquet count each record's text.

    The result merges associatively (:func:`merge_counts`, ``PretokenCounts.merge``), saves to
    a versioned file (``.save(path)``, atomic) and trains with ``train(from_counts=[...])``."""
    if isinstance(special_tokens, str):
        raise TypeError("special_tokens must be a list of str, not a single str")
    counts = _core.PretokenCounts(pattern, list(special_tokens))
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)):
        # Any other iterable holds documents (as in ``train``).
        for batch, _ in _batches(_check_str(inputs), batch_bytes):
            counts.add_texts(batch, num_threads)
        return counts
    for p in inputs:
        if not isinstance(p, (str, os.PathLike)):
            raise TypeError("a list of inputs must hold only paths (str or os.PathLike)")
    paths = check_inputs(inputs)
    bad = _Bad(skip_bad)
    plain: list[str] = []
    for p in paths:
        fmt = detect_format(p) if format == "auto" else format
        if fmt == "text":
            with open(p, "rb") as f:
                head = f.read(4)
            if not (head.startswith(_GZIP_MAGIC) or head.startswith(_ZSTD_MAGIC)):
                plain.append(p)
                continue
            docs: Iterator[str] = _safe_pieces(p, errors)
        else:
            docs = iter_documents(p, format=fmt, field=field, column=column, bad=bad)
        reader = _ReadAhead(_batches(docs, batch_bytes))
        try:
            for batch, _ in reader:
                counts.add_texts(batch, num_threads)
        finally:
            reader.close()
    if plain:
        counts.add_files(plain, num_threads, errors, progress)
    return counts


def _check_str(texts: Iterable[Any]) -> Iterator[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError("give a list of paths or an iterable of str documents")
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(f"documents must be str, got {type(t).__name__}")
        yield t


def merge_counts(counts: Iterable[Union[PathLike, PretokenCounts]]) -> PretokenCounts:
    """Merge pretoken counts (objects, or paths of saved count files) into a new object. All
    must have been made with the same pattern, normalizer and special tokens."""
    out: Optional[PretokenCounts] = None
    for c in counts:
        obj = c if isinstance(c, _core.PretokenCounts) else _core.PretokenCounts.load(os.fspath(c))
        if out is None:
            out = _core.PretokenCounts(obj.pattern, obj.special_tokens)
        out.merge(obj)
    if out is None:
        raise ValueError("no pretoken counts given")
    return out
