"""The ``bytepair`` command line.

``bytepair train [FILES...]`` trains a byte-level BPE tokenizer; with no files it trains on the
sample corpus shipped with the package and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Optional

from . import PATTERNS, SAMPLE_CORPUS, __version__, _cli_corpus, _cli_mixture, train
from .supertoken import train_superbpe_with_stats

SAMPLE_VOCAB = 4096
DEFAULT_VOCAB = 32_000


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bytepair",
        description="Fast byte-pair-encoding toolkit: train and use BPE tokenizers.",
    )
    p.add_argument("--version", action="version", version=f"bytepair {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser(
        "train",
        help="train a byte-level BPE tokenizer",
        description=(
            "Train a byte-level BPE tokenizer on UTF-8 text files. With no FILES, trains on the "
            f"sample corpus shipped with bytepair (vocab {SAMPLE_VOCAB}) and prints a summary."
        ),
    )
    t.add_argument("files", nargs="*", metavar="FILE", help="UTF-8 text files")
    t.add_argument(
        "--vocab-size",
        type=int,
        default=None,
        help=f"total vocabulary incl. 256 bytes and specials (default {DEFAULT_VOCAB}; "
        f"{SAMPLE_VOCAB} for the sample)",
    )
    t.add_argument(
        "--pattern",
        default="o200k",
        help=f"pretokenizer: one of {', '.join(PATTERNS)}, or a regex (default o200k)",
    )
    t.add_argument(
        "--special-token",
        action="append",
        default=[],
        metavar="TOKEN",
        help="add a special token (repeatable; ids after the learned tokens)",
    )
    t.add_argument("--min-frequency", type=int, default=2, help="minimum pair count (default 2)")
    t.add_argument("--max-token-length", type=int, default=None, help="maximum token bytes")
    t.add_argument("--threads", type=int, default=None, help="worker threads (default: all cores)")
    t.add_argument("-o", "--output", default=None, help="write the tokenizer here")
    t.add_argument(
        "--format",
        choices=("json", "tiktoken"),
        default=None,
        help="output format: HF tokenizer.json or tiktoken rank file "
        "(default: from the extension, .tiktoken -> tiktoken, else json)",
    )
    t.add_argument(
        "--errors",
        choices=("strict", "replace"),
        default="strict",
        help="invalid UTF-8: fail (default) or replace with U+FFFD",
    )
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    t.add_argument("--json", action="store_true", help="print the summary as JSON")
    s = t.add_argument_group("SuperBPE (tokens that cross whitespace)")
    s.add_argument(
        "--superbpe",
        action="store_true",
        help="two-stage SuperBPE: BPE up to --transition, then superword merges",
    )
    s.add_argument(
        "--transition",
        type=int,
        default=None,
        metavar="T",
        help="vocabulary size at the end of stage 1 (required with --superbpe)",
    )
    s.add_argument(
        "--max-words",
        type=int,
        default=4,
        help="stage-2 tokens span at most this many words (default 4; 0 = no limit)",
    )
    t.set_defaults(func=_train)
    # Each further command lives in its own module, which adds its subparser(s) and sets `func`.
    _cli_corpus.add_parsers(sub)
    _cli_mixture.add_parsers(sub)
    return p


def _train(args: argparse.Namespace) -> int:
    files = args.files or [str(SAMPLE_CORPUS)]
    vocab = args.vocab_size or (DEFAULT_VOCAB if args.files else SAMPLE_VOCAB)
    fmt = args.format
    if args.output and fmt is None:
        fmt = "tiktoken" if args.output.endswith(".tiktoken") else "json"
    if args.output:
        folder = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"output folder {folder} does not exist")
    if args.superbpe and args.transition is None:
        raise ValueError("--superbpe needs --transition T (the stage-1 vocabulary size)")
    if not args.superbpe and args.transition is not None:
        raise ValueError("--transition is only meaningful with --superbpe")
    if args.max_words < 0:
        raise ValueError(f"--max-words must be >= 0, got {args.max_words}")
    t0 = time.perf_counter()
    progress = False if (args.quiet or args.json) else None
    super_stats: Optional[dict[str, object]] = None
    if args.superbpe:
        tok, super_stats = train_superbpe_with_stats(
            files,
            vocab,
            args.transition,
            max_words=args.max_words or None,
            pattern=args.pattern,
            special_tokens=args.special_token,
            min_frequency=args.min_frequency,
            max_token_length=args.max_token_length,
            num_threads=args.threads,
            progress=progress,
            errors=args.errors,
        )
    else:
        tok = train(
            files,
            vocab,
            pattern=args.pattern,
            special_tokens=args.special_token,
            min_frequency=args.min_frequency,
            max_token_length=args.max_token_length,
            num_threads=args.threads,
            progress=progress,
            errors=args.errors,
        )
    seconds = time.perf_counter() - t0
    if args.output:
        if fmt == "tiktoken":
            tok.save_tiktoken(args.output)
        else:
            tok.save(args.output)
    st = tok.train_stats or {}
    n_special = len(tok.special_tokens)
    summary = {
        "files": files,
        "sample": not args.files,
        "vocab_size": tok.vocab_size,
        "requested_vocab_size": vocab,
        "merges": len(tok.merges),
        "special_tokens": n_special,
        "pattern": args.pattern,
        "corpus_bytes": st.get("corpus_bytes"),
        "pretokens": st.get("pretokens"),
        "distinct_pretokens": st.get("distinct_pretokens"),
        "bytes_per_token": st.get("bytes_per_token"),
        "seconds": seconds,
        "seconds_count": st.get("seconds_count"),
        "seconds_merge": st.get("seconds_merge"),
        "output": args.output,
        "format": fmt if args.output else None,
    }
    if super_stats is not None:
        summary["superbpe"] = {
            "transition": args.transition,
            "max_words": args.max_words,
            **super_stats,
        }
    if args.json:
        print(json.dumps(summary, indent=2))
    elif not args.quiet:
        what = "the bundled sample (King James Bible excerpt)" if not args.files else (
            f"{len(files)} file(s)"
        )
        mb = (st.get("corpus_bytes") or 0) / 1e6
        print(f"trained byte-level BPE on {what}: {mb:.2f} MB in {seconds:.2f} s")
        print(
            f"  vocabulary   {tok.vocab_size:,} tokens "
            f"(256 bytes + {tok.vocab_size - 256 - n_special:,} learned + {n_special} special)"
        )
        if tok.vocab_size < vocab:
            print(
                f"               stopped before {vocab:,}: no pair occurs "
                f"{args.min_frequency}+ times (--min-frequency)"
            )
        print(f"  pattern      {args.pattern}")
        if super_stats is not None:
            print(
                f"  superbpe     stage 1 to {args.transition:,} tokens, then stage 2 "
                f"(max {args.max_words or 'any'} words per token, pattern {tok.pretokenizer})"
            )
        print(f"  bytes/token  {st.get('bytes_per_token', 0):.3f} on the training text")
        pretokens, distinct = st.get("pretokens", 0), st.get("distinct_pretokens", 0)
        print(f"  pretokens    {pretokens:,} ({distinct:,} distinct)")
        print(
            f"  time         count {st.get('seconds_count', 0):.2f} s, "
            f"merge {st.get('seconds_merge', 0):.2f} s"
        )
        if args.output:
            print(f"  saved        {args.output} ({fmt})")
        else:
            print("  (not saved: pass -o tokenizer.json)")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        func = getattr(args, "func", None)
        if func is not None:
            return int(func(args))
    except KeyboardInterrupt:
        print("bytepair: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (ValueError, OSError, TypeError) as e:
        print(f"bytepair: error: {e}", file=sys.stderr)
        return 2
    parser.print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
