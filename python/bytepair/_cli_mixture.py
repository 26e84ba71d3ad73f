"""The ``bytepair infer-mixture`` subcommand (data-mixture inference)."""

from __future__ import annotations

from typing import Any


def add_parsers(sub: Any) -> None:
    """Add this module's subcommands to ``sub`` (an argparse subparsers action); each sets
    ``func``, called with the parsed namespace, returning the exit code."""
    del sub

