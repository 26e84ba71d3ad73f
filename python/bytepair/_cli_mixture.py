"""The ``bytepair infer-mixture`` subcommand (data-mixture inference)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def add_parsers(sub: Any) -> None:
    """Add this module's subcommands to ``sub`` (an argparse subparsers action); each sets
    ``func``, called with the parsed namespace, returning the exit code."""
    p = sub.add_parser(
        "infer-mixture",
        help="estimate a tokenizer's training-data mixture from its merge list",
        description=(
            "Data-mixture inference (Hayase et al. 2024): given a tokenizer and a text sample for "
            "each candidate category, estimate what share (by bytes) of the tokenizer's training "
            "data each category had. Needs highspy (pip install 'bytepair[mixture]')."
        ),
    )
    p.add_argument(
        "--tokenizer",
        required=True,
        metavar="T",
        help="tokenizer.json, GPT-2 vocab.json/merges.txt, a folder, or a .tiktoken rank file "
        "(with --pattern)",
    )
    p.add_argument(
        "--pattern",
        default=None,
        help="pretokenizer of a .tiktoken file (a preset or encoding name, or a regex)",
    )
    p.add_argument(
        "--category",
        action="append",
        required=True,
        metavar="NAME=FILE",
        help="a category and a sample file (repeat the flag; several files per name allowed)",
    )
    p.add_argument("--merges", type=int, default=30_000, help="merges to use (default 30000)")
    p.add_argument(
        "--sample-bytes", type=int, default=None, help="cap on each category's sample (bytes)"
    )
    p.add_argument(
        "--bootstrap", type=int, default=0, help="bootstrap replicates for intervals (default 0)"
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument(
        "--gap",
        type=float,
        default=0.0,
        help="stop within this relative gap of the LP optimum (default 0: exact)",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="return the best point found after this many seconds of solving",
    )
    p.add_argument(
        "--method",
        choices=("lazy", "bundle", "auction"),
        default="auction",
        help="LP solver: the level bundle method with an auction inner matching (default; "
        "optimal to a proven relative gap of 1e-7), lazy constraint generation (lazy), or the "
        "bundle method with an exact Hungarian matching (bundle); see bench/README.md",
    )
    p.add_argument("--threads", type=int, default=None, help="worker threads (default all)")
    p.add_argument("--plot", default=None, metavar="OUT.png", help="save a bar chart")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress lines while the LP is solved"
    )
    p.set_defaults(func=_run)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send what native code writes to stdout (HiGHS prints a banner) to stderr, so stdout
    holds only the result (``--json`` is read by machines)."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:
        yield
        return
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _run(args: argparse.Namespace) -> int:
    from . import Tokenizer
    from .mixture import infer_mixture

    samples: dict[str, list[Path]] = {}
    for spec in args.category:
        name, sep, file = spec.partition("=")
        if not sep or not name or not file:
            print(f"error: --category expects NAME=FILE, got {spec!r}", file=sys.stderr)
            return 2
        path = Path(file)
        if not path.is_file():
            print(f"error: category {name!r}: no such file {file}", file=sys.stderr)
            return 2
        samples.setdefault(name, []).append(path)
    try:
        tok = Tokenizer.from_file(args.tokenizer, pattern=args.pattern)
        with _stdout_to_stderr():
            res = infer_mixture(
                tok,
                samples,
                merges=args.merges,
                sample_bytes=args.sample_bytes,
                bootstrap=args.bootstrap,
                seed=args.seed,
                gap=args.gap,
                time_limit=args.time_limit,
                method=args.method,
                num_threads=args.threads,
                progress=False if (args.quiet or args.json) else None,
            )
        if args.plot:
            res.plot(args.plot)
    except (ValueError, OSError, ImportError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
    else:
        print(res)
    return 0
