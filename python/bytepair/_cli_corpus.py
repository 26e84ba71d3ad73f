"""Corpus subcommands of the ``bytepair`` command line: encode, stats, count, merge-counts,
train-counts."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Optional

KNOWN_ENCODINGS = ("gpt2", "r50k_base", "p50k_base", "cl100k_base", "o200k_base")


def load_tokenizer(spec: str, pattern: Optional[str] = None) -> Any:
    """Load a tokenizer file. A tiktoken rank file needs a pattern: ``pattern``, or the file's
    name when it is an OpenAI encoding's (``cl100k_base.tiktoken``); its own special tokens
    come with it."""
    from . import Tokenizer, _core

    stem = os.path.basename(spec).split(".")[0]
    if pattern is None and stem in KNOWN_ENCODINGS and os.path.isfile(spec):
        with open(spec, "rb") as f:
            head = f.read(1)
        if head not in (b"{", b""):  # a rank file, not JSON
            pattern = stem
    if pattern is None:
        return Tokenizer.from_file(spec)
    try:
        return Tokenizer.from_file(spec, pattern=pattern, special_tokens="default")
    except ValueError as e:
        if "no default special tokens" not in str(e):
            raise
        return Tokenizer(_core.Tokenizer.load(spec, pattern, None, False))


def _add_input_options(p: argparse.ArgumentParser, doc_sep: bool = True) -> None:
    p.add_argument(
        "--format",
        choices=("auto", "text", "jsonl", "parquet"),
        default="auto",
        help="input format (default: by extension: .jsonl/.ndjson/.json, .parquet, else text; "
        ".gz/.zst compression is recognised by content)",
    )
    p.add_argument("--field", default="text", help="JSON Lines field holding the text")
    p.add_argument("--column", default="text", help="Parquet column holding the text")
    if doc_sep:
        p.add_argument(
            "--doc-sep",
            choices=("file", "blank-line", "line"),
            default="file",
            help="what a document is in a text file: the whole file (default), each "
            "paragraph (text between blank lines), or each line",
        )
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip bad records (malformed JSON, missing field, null) and count them, instead "
        "of failing with file:line",
    )
    p.add_argument("--errors", choices=("strict", "replace"), default="strict",
                   help="invalid UTF-8 in text files: fail (default) or replace with U+FFFD")
    p.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")


def add_parsers(sub: Any) -> None:
    """Add this module's subcommands to ``sub`` (an argparse subparsers action); each sets
    ``func``, called with the parsed namespace, returning the exit code."""
    e = sub.add_parser(
        "encode",
        help="tokenize a corpus into a flat token file + index for LM training",
        description=(
            "Encode documents into OUT.bin (token ids, each document followed by the "
            "end-of-text id; uint16 if the vocabulary fits, else uint32, little-endian), "
            "OUT.idx (int64 token offsets, documents + 1) and OUT.json (metadata). Written "
            "atomically: an error or Ctrl-C leaves no partial output."
        ),
    )
    e.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="text, JSON Lines or Parquet files (optionally .gz / .zst)")
    e.add_argument("--tokenizer", required=True, metavar="T",
                   help="tokenizer.json, tiktoken rank file, or GPT-2 folder")
    e.add_argument("--pattern", default=None,
                   help="split pattern for a tiktoken rank file (default: from an OpenAI "
                   "encoding's file name, e.g. cl100k_base.tiktoken)")
    e.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output prefix: writes OUT.bin, OUT.idx, OUT.json")
    e.add_argument("--eot", default="<|endoftext|>", metavar="TOKEN",
                   help="token separating documents (default <|endoftext|>; an integer is an id)")
    e.add_argument("--no-eot", action="store_true", help="no separator between documents")
    e.add_argument("--batch-mb", type=float, default=8.0,
                   help="text per batch in MB (memory bound; default 8)")
    _add_input_options(e)
    e.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    e.add_argument("--json", action="store_true", help="print the metadata as JSON")
    e.set_defaults(func=_encode)

    s = sub.add_parser(
        "stats",
        help="compare tokenizers on files: bytes/token, tokens/word, vocabulary use",
        description="Bytes per token, tokens per word and vocabulary use of each tokenizer on "
        "each file (and on all files together).",
    )
    s.add_argument("inputs", nargs="+", metavar="FILE")
    s.add_argument("--tokenizer", action="append", required=True, metavar="T",
                   help="a tokenizer file (repeat to compare); NAME=PATH names it")
    s.add_argument("--pattern", default=None, help="split pattern for tiktoken rank files")
    _add_input_options(s)
    s.add_argument("--json", action="store_true", help="print the rows as JSON")
    s.set_defaults(func=_stats)

    c = sub.add_parser(
        "count",
        help="count pretokens into a mergeable file (distributed training input)",
        description="Count the pretokens of the inputs as training does and save them to a "
        "versioned count file. Count files from shards merge (bytepair merge-counts) into "
        "exactly the counts of the whole corpus; bytepair train-counts trains on them.",
    )
    c.add_argument("inputs", nargs="+", metavar="INPUT")
    c.add_argument("-o", "--output", required=True, help="count file to write")
    c.add_argument("--pattern", default=None,
                   help="pretokenizer: gpt2, cl100k, o200k (default), none, or a regex")
    c.add_argument("--tokenizer", default=None,
                   help="take the pattern and special tokens from this tokenizer file")
    c.add_argument("--special-token", action="append", default=[], metavar="TOKEN",
                   help="special token to cut out before counting (repeatable)")
    _add_input_options(c, doc_sep=False)
    c.add_argument("-q", "--quiet", action="store_true")
    c.add_argument("--json", action="store_true", help="print a summary as JSON")
    c.set_defaults(func=_count)

    m = sub.add_parser(
        "merge-counts",
        help="merge pretoken count files",
        description="Add up pretoken count files made with the same pattern and special tokens.",
    )
    m.add_argument("inputs", nargs="+", metavar="COUNTS")
    m.add_argument("-o", "--output", required=True)
    m.add_argument("-q", "--quiet", action="store_true")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=_merge)

    t = sub.add_parser(
        "train-counts",
        help="train a tokenizer on pretoken count files",
        description="Merge the count files and train on them (the same merges as training on "
        "the text they were counted from).",
    )
    t.add_argument("inputs", nargs="+", metavar="COUNTS")
    t.add_argument("--vocab-size", type=int, required=True)
    t.add_argument("--min-frequency", type=int, default=2)
    t.add_argument("--max-token-length", type=int, default=None)
    t.add_argument("-o", "--output", required=True, help="tokenizer.json (or .tiktoken)")
    t.add_argument("-q", "--quiet", action="store_true")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=_train_counts)


def _check_out_folder(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"output folder {folder} does not exist")


def _encode(args: argparse.Namespace) -> int:
    from .corpus import encode_corpus

    tok = load_tokenizer(args.tokenizer, args.pattern)
    eot: Any = False if args.no_eot else (int(args.eot) if args.eot.isdigit() else args.eot)
    res = encode_corpus(
        tok,
        args.inputs,
        args.output,
        format=args.format,
        field=args.field,
        column=args.column,
        doc_sep=args.doc_sep,
        eot=eot,
        errors=args.errors,
        skip_bad=args.skip_bad,
        num_threads=args.threads,
        batch_bytes=max(1, int(args.batch_mb * 1e6)),
        progress=False if (args.quiet or args.json) else None,
    )
    meta = res.meta
    if args.json:
        print(json.dumps(meta, indent=2))
    elif not args.quiet:
        mb = meta["text_bytes"] / 1e6
        secs = max(meta["seconds"], 1e-9)
        print(
            f"encoded {meta['documents']:,} documents ({mb:,.1f} MB) into {meta['tokens']:,} "
            f"{meta['dtype']} tokens in {meta['seconds']:.2f} s ({mb / secs:,.1f} MB/s)"
        )
        print(f"  {res.tokens_path}  {res.index_path}  {res.meta_path}")
        if meta["skipped_bad"]:
            print(f"  skipped {meta['skipped_bad']:,} bad record(s), e.g. "
                  f"{meta['skipped_examples'][0]}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from .corpus import corpus_stats

    toks: dict[str, Any] = {}
    for spec in args.tokenizer:
        name, _, path = spec.rpartition("=") if "=" in spec and not os.path.exists(spec) else (
            "", "", spec)
        name = name or os.path.basename(path)
        if name in toks:
            raise ValueError(f"two tokenizers named {name!r}: name them with NAME=PATH")
        toks[name] = load_tokenizer(path, args.pattern)
    rows = corpus_stats(
        toks,
        args.inputs,
        format=args.format,
        field=args.field,
        column=args.column,
        doc_sep=args.doc_sep,
        errors=args.errors,
        skip_bad=args.skip_bad,
        num_threads=args.threads,
    )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    head = ["file", "tokenizer", "bytes", "tokens", "bytes/token", "tokens/word", "vocab used"]
    table = [head]
    for r in rows:
        bpt = f"{r['bytes_per_token']:.3f}" if r["bytes_per_token"] else "-"
        tpw = f"{r['tokens_per_word']:.3f}" if r["tokens_per_word"] else "-"
        table.append([
            r["file"], r["tokenizer"], f"{r['bytes']:,}", f"{r['tokens']:,}", bpt, tpw,
            f"{r['vocab_used']:,}/{r['vocab_size']:,} ({100 * r['vocab_use']:.1f}%)",
        ])
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for j, row in enumerate(table):
        cells = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))
    if rows and rows[0].get("skipped_bad"):
        print(f"skipped {rows[0]['skipped_bad']:,} bad record(s)", file=sys.stderr)
    return 0


def _summary(counts: Any, output: str, seconds: float) -> dict[str, Any]:
    return {
        "output": output,
        "pattern": counts.pattern,
        "special_tokens": counts.special_tokens,
        "distinct": len(counts),
        "total": counts.total,
        "text_bytes": counts.text_bytes,
        "seconds": round(seconds, 3),
    }


def _print_summary(args: argparse.Namespace, s: dict[str, Any], verb: str) -> None:
    if args.json:
        print(json.dumps(s, indent=2))
    elif not args.quiet:
        print(f"{verb} {s['total']:,} pretokens ({s['distinct']:,} distinct, "
              f"{s['text_bytes'] / 1e6:,.1f} MB of text) in {s['seconds']:.2f} s -> {s['output']}")


def _count(args: argparse.Namespace) -> int:
    from .corpus import count_pretokens

    specials = list(args.special_token)
    pattern = args.pattern
    if args.tokenizer:
        tok = load_tokenizer(args.tokenizer, args.pattern)
        pattern = tok.pattern if tok.pretokenizer == "custom" else tok.pretokenizer
        specials = specials or list(tok.special_tokens)
    _check_out_folder(args.output)
    t0 = time.perf_counter()
    counts = count_pretokens(
        list(args.inputs),
        pattern=pattern or "o200k",
        special_tokens=specials,
        format=args.format,
        field=args.field,
        column=args.column,
        errors=args.errors,
        skip_bad=args.skip_bad,
        num_threads=args.threads,
        progress=False if (args.quiet or args.json) else None,
    )
    counts.save(args.output)
    _print_summary(args, _summary(counts, args.output, time.perf_counter() - t0), "counted")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from .corpus import merge_counts

    _check_out_folder(args.output)
    t0 = time.perf_counter()
    counts = merge_counts(args.inputs)
    counts.save(args.output)
    _print_summary(args, _summary(counts, args.output, time.perf_counter() - t0), "merged")
    return 0


def _train_counts(args: argparse.Namespace) -> int:
    from . import train

    _check_out_folder(args.output)
    from .corpus import merge_counts

    t0 = time.perf_counter()
    counts = merge_counts(args.inputs)
    tok = train(
        vocab_size=args.vocab_size,
        from_counts=[counts],
        pattern=counts.pattern,
        special_tokens=counts.special_tokens,
        min_frequency=args.min_frequency,
        max_token_length=args.max_token_length,
        progress=False if (args.quiet or args.json) else None,
    )
    if args.output.endswith(".tiktoken"):
        tok.save_tiktoken(args.output)
    else:
        tok.save(args.output)
    st = tok.train_stats or {}
    summary = {
        "output": args.output,
        "vocab_size": tok.vocab_size,
        "merges": len(tok.merges),
        "pattern": counts.pattern,
        "corpus_bytes": st.get("corpus_bytes"),
        "bytes_per_token": st.get("bytes_per_token"),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    elif not args.quiet:
        print(f"trained {tok.vocab_size:,} tokens on {len(args.inputs)} count file(s) "
              f"({(st.get('corpus_bytes') or 0) / 1e6:,.1f} MB of text) -> {args.output}")
    return 0
