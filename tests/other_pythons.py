"""Run the encoder's list and error tests under every other CPython 3.10-3.14 on this machine.

Why: the abi3 module builds Python lists through the layout of CPython's objects, and gives its
shared int objects a reserve of references in a way that depends on the version (the whole
count up to 3.11; immortal from 3.12, PEP 683). Each interpreter checks that at run time and
falls back to plain lists where it does not hold; this runs the tests that would notice a wrong
guess (`test_encode_tiktoken.py`, `test_errors.py`) on each interpreter found, from a wheel of
this checkout installed into a fresh virtual environment with the test dependencies from PyPI.

Interpreters are looked for as `python3.N` on PATH and under pyenv's `versions/3.N*`; the one
running this script is skipped (`make py-test` covers it). None found is not a failure: the
script says so and exits 0.

    python tests/other_pythons.py              # every other version found
    python tests/other_pythons.py 3.12 3.13    # only these
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = ["test_encode_tiktoken.py", "test_errors.py"]
DEPS = ["pytest", "hypothesis", "tiktoken", "numpy", "tokenizers", "regex"]


def version_of(python: str) -> str | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def interpreters(wanted: list[str]) -> dict[str, str]:
    """Version -> interpreter path, one per version, the running one left out."""
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    candidates = [shutil.which(f"python3.{m}") for m in range(10, 15)]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if pyenv.is_dir():
        candidates += [str(p / "bin" / "python") for p in sorted(pyenv.glob("3.1[0-4]*"))]
    found: dict[str, str] = {}
    for c in candidates:
        if c and os.access(c, os.X_OK):
            v = version_of(c)
            if v and v != mine and v not in found and (not wanted or v in wanted):
                found[v] = c
    return found


def build_wheel(out: Path) -> Path:
    """A wheel of this checkout (a release build: the one `make install` made is reused)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)],
        check=True,
    )
    (wheel,) = out.glob("bytepair-*.whl")
    return wheel


def main() -> int:
    found = interpreters(sys.argv[1:])
    if not found:
        print("other_pythons: no other CPython 3.10-3.14 found; nothing to run")
        return 0
    failed = []
    with tempfile.TemporaryDirectory(prefix="bytepair-pythons-") as tmp:
        wheel = build_wheel(Path(tmp) / "wheel")
        for version, python in sorted(found.items()):
            print(f"other_pythons: CPython {version} ({python})", flush=True)
            env_dir = Path(tmp) / f"venv{version}"
            venv_python = env_dir / "bin" / "python"
            steps = [
                [python, "-m", "venv", str(env_dir)],
                [str(venv_python), "-m", "pip", "install", "-q", str(wheel), *DEPS],
                # (from tests/, so `bytepair` is the installed wheel, not the checkout's sources)
                [str(venv_python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 "--rootdir", str(REPO / "tests"), *TESTS],
            ]
            for step in steps:
                if subprocess.run(step, cwd=REPO / "tests").returncode != 0:
                    failed.append(version)
                    break
    if failed:
        print(f"other_pythons: FAILED on CPython {', '.join(failed)}")
        return 1
    print(f"other_pythons: passed on CPython {', '.join(sorted(found))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
