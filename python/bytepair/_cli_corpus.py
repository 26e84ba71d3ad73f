"""Corpus subcommands of the ``bytepair`` command line: encode, stats, count."""

from __future__ import annotations

from typing import Any


def add_parsers(sub: Any) -> None:
    """Add this module's subcommands to ``sub`` (an argparse subparsers action); each sets
    ``func``, called with the parsed namespace, returning the exit code."""
    del sub

