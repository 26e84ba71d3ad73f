"""Shared fixtures: the optional shared corpus next to the repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import SHARED_CORPUS


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than 30 s; deselect with -m 'not slow'")
    # When a hypothesis test fails, hypothesis imports libcst, which warns through mypy_extensions;
    # with warnings as errors that would crash pytest instead of reporting the failure.
    config.addinivalue_line(
        "filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    """The shared corpus folder (../shared/corpus next to the repository), or skip."""
    if not (SHARED_CORPUS / "en.txt").is_file():
        pytest.skip(f"shared corpus not found at {SHARED_CORPUS}")
    return SHARED_CORPUS


@pytest.fixture(scope="session")
def shared_corpus_files(shared_corpus: Path) -> list[Path]:
    """Every text file of the shared corpus (English, code, languages), sorted."""
    return sorted(shared_corpus.rglob("*.txt"))
