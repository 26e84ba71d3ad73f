"""The `bytepair train` command line, run in a subprocess as a user would."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import EOT, fixture_path

bp = pytest.importorskip("bytepair")
tokenizers = pytest.importorskip("tokenizers")


def command() -> list[str]:
    script = Path(sys.executable).parent / "bytepair"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "bytepair"]


def run(*args, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command(), "train", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600, check=False)


def assert_usage_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"want one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("bytepair: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]


def test_default_run_on_sample_corpus(tmp_path):
    result = run(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress bar in a pipe
    summary = result.stdout.lower()
    assert "vocab" in summary and "token" in summary


def test_summary_reports_vocab_size(tmp_path):
    result = run("--vocab-size", 777, fixture_path("en_kjv"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "777" in result.stdout


def test_json_summary(tmp_path):
    result = run("--vocab-size", 600, "--json", fixture_path("en_kjv"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert isinstance(summary, dict)
    assert 600 in summary.values()


def test_output_json_equals_python_api(tmp_path):
    out = tmp_path / "tok.json"
    args = ["--vocab-size", 900, "--pattern", "cl100k", "--special-token", EOT,
            "--special-token", "<|pad|>", "--min-frequency", 3, "--max-token-length", 6]
    result = run(*args, "-o", out, "--quiet", fixture_path("code_python"), fixture_path("zh"),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    want = bp.train([fixture_path("code_python"), fixture_path("zh")], 900, pattern="cl100k",
                    special_tokens=[EOT, "<|pad|>"], min_frequency=3, max_token_length=6)
    got = bp.Tokenizer.from_file(out)
    assert got.merges == want.merges
    assert got.special_tokens == want.special_tokens
    hf = tokenizers.Tokenizer.from_file(str(out))
    text = fixture_path("zh").read_text(encoding="utf-8")
    assert hf.encode(text, add_special_tokens=False).ids == want.encode(text)


def test_output_tiktoken(tmp_path):
    import base64

    out = tmp_path / "tok.tiktoken"
    result = run("--vocab-size", 700, "--format", "tiktoken", "-o", out, fixture_path("ja"),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    ranks = {}
    for line in out.read_text().splitlines():
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    assert ranks == bp.train(fixture_path("ja"), 700).get_vocab()


def test_threads_option_same_output(tmp_path):
    one, many = tmp_path / "one.json", tmp_path / "many.json"
    for threads, out in ((1, one), (4, many)):
        result = run("--threads", threads, "--vocab-size", 800, "-o", out, fixture_path("en_kjv"),
                     fixture_path("code_rust"), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert one.read_bytes() == many.read_bytes()


def test_errors_replace(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"good text\nbad \xff byte\n" * 20)
    result = run("--vocab-size", 300, "--errors", "replace", bad, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("case", ["missing_file", "vocab_too_small", "invalid_utf8",
                                  "duplicate_special", "bad_pattern", "missing_out_folder"])
def test_bad_input_exit_2_one_line(tmp_path, case):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"hello\n\xff world\n")
    good = fixture_path("ties")
    out = tmp_path / "out.json"
    args, fragments = {
        "missing_file": ([tmp_path / "nope.txt"], ["nope.txt"]),
        "vocab_too_small": (["--vocab-size", 100, good], []),
        "invalid_utf8": ([bad], ["bad.txt", "byte offset 6"]),
        "duplicate_special": (["--special-token", EOT, "--special-token", EOT, good], []),
        "bad_pattern": (["--pattern", "(", good], []),
        "missing_out_folder": ([good], []),
    }[case]
    if case == "missing_out_folder":
        out = tmp_path / "missing" / "out.json"
    result = run("--vocab-size", 600, *args, "-o", out, cwd=tmp_path)
    assert_usage_error(result, *fragments)
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt"]  # nothing written


def test_bad_option_value_exit_2(tmp_path):
    result = run("--vocab-size", "many", fixture_path("ties"), cwd=tmp_path)
    assert result.returncode == 2
    assert re.search(r"^bytepair( train)?: error: ", result.stderr, re.MULTILINE)
