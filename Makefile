# `make test` is exactly what CI runs (.ci/run) and what the README names.
.DEFAULT_GOAL := help
PY ?= python3

.PHONY: help install test lint rust-test py-test py-versions bench-train

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install:  ## build the extension (release) and install bytepair with the test extras, editable
	$(PY) -m pip install -q -e ".[test]"

lint:  ## rustfmt, clippy (warnings are errors), ruff, mypy
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings
	$(PY) -m ruff check python tests bench
	$(PY) -m mypy

rust-test:  ## Rust unit and property tests
	cargo test --release

py-test:  ## Python tests (correctness against references, formats, CLI, bad input)
	$(PY) -m pytest -q

py-versions:  ## the list and error tests again under every other CPython 3.10-3.14 found (a wheel in fresh venvs)
	$(PY) tests/other_pythons.py

test: install lint rust-test py-test py-versions  ## everything CI checks

bench-train:  ## training benchmark against HF tokenizers, rustbpe, bpeasy
	$(PY) bench/train.py
