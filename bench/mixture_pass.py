"""Time the mixture LP's separation passes on the `--speed` attack and hash what they return.

    python bench/mixture_pass.py auction --threads 1 --reps 3
    python bench/mixture_pass.py lazy --threads 2 --package /tmp/old/python

The attack of ``bench/mixture.py --speed`` (cl100k_base, 30,000 merges, ten categories, all the
data), at the cl100k_base estimate of bench/README.md's auction table. ``auction``: ``reps``
calls of ``MixtureAttack.evaluate`` (4 passes each, 80 entries per step, 20 per pair: what
``method="auction"`` runs; the first call is a warm-up and not timed). ``lazy``: ``reps`` rounds
of two ``separate`` calls (3 rows per step, then 10 with pair slacks on 2000 pairs and half of
the first call's rows already in the LP), random ``v_step``, rows forgotten after each round.

Per pass it prints the thread CPU seconds of each range (from ``BYTEPAIR_MIXTURE_DEBUG``'s lines:
replay + walk), the longest range (the critical path) and the sum; at the end a hash of every
output (cuts, excess, bounds), which must be the same for two builds that claim the same
results, and for every thread count. ``--package DIR`` imports ``bytepair`` from DIR (e.g. the
``python`` folder of another checkout with its built extension), so builds can be alternated.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["auction", "lazy"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--package", help="folder to import bytepair from")
    args = ap.parse_args()
    if args.package:
        sys.path.insert(0, args.package)
    import bytepair
    import numpy as np
    from bytepair import _core
    from bytepair.mixture import _FEAS_TOL, _highspy, _simplex_model, load_samples

    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    from mixture import CORPUS, SETS, SHARED

    # The Rust debug lines go to fd 2: read them back from a file.
    err = tempfile.TemporaryFile("w+")
    out = os.dup(2)
    os.dup2(err.fileno(), 2)
    os.environ["BYTEPAIR_MIXTURE_DEBUG"] = "1"

    def say(s: str) -> None:
        os.write(out, (s + "\n").encode())

    pat = re.compile(r"separate steps .*replay ([0-9.]+)s, walk ([0-9.]+)s")

    def passes() -> list[list[float]]:
        """Per pass, the thread CPU of each range, from the debug lines since the last call."""
        err.seek(0)
        lines = err.read().splitlines()
        err.seek(0)
        err.truncate()
        got: list[list[float]] = []
        ranges: list[float] = []
        for line in lines:
            m = pat.search(line)
            if m:
                ranges.append(float(m.group(1)) + float(m.group(2)))
            elif ranges and "separate steps" not in line:
                got.append(ranges)
                ranges = []
        if ranges:
            got.append(ranges)
        return got

    say(f"bytepair from {bytepair.__file__}")
    cats = {**SETS["langs"], **SETS["code"]}
    tok = bytepair.Tokenizer.from_file(
        SHARED / "vocab" / "cl100k_base.tiktoken", pattern="cl100k_base"
    )
    texts = load_samples({c: [CORPUS / f] for c, f in cats.items()}, None)
    names = list(texts)
    attack = _core.MixtureAttack(tok._core, [texts[c] for c in names], 30000, args.threads)
    est = {"en": 0.394, "javascript": 0.225, "python": 0.150, "c": 0.080, "rust": 0.055,
           "es": 0.028, "de": 0.033, "fr": 0.019, "go": 0.013, "ru": 0.004}
    a = np.array([est.get(c, 0.01) for c in names])
    a /= a.sum()
    _, scale = _simplex_model(_highspy(), attack.sample_bytes())
    w = (a * scale).tolist()
    tol = 1000 * _FEAS_TOL
    passes()
    h = hashlib.sha256()
    timed: dict[str, list[list[float]]] = {}

    def record(key: str, label: str, ps: list[list[float]]) -> None:
        timed.setdefault(key, []).extend(ps)
        say(f"  {label}: thread CPU per pass (critical/all) "
            + " ".join(f"{max(p):.3f}/{sum(p):.3f}" for p in ps))

    if args.mode == "lazy":
        rng = np.random.default_rng(0)
        steps = attack.steps
        vs = np.where(rng.random(steps) < 0.5, rng.random(steps) * 1000.0, 0.0).tobytes()
        ids = rng.choice(attack.num_pairs, 2000, replace=False).astype(np.uint32)
        vals = rng.random(2000) * 500.0
        for _ in range(args.reps):
            kept: tuple[bytes, bytes] = (b"", b"")
            for per_step in (3, 10):
                vi, vv = (ids.tobytes(), vals.tobytes()) if per_step == 10 else (b"", b"")
                res: Any = attack.separate(w, vs, vi, vv, tol, per_step, 10**9, None, args.threads)
                for x in res[:4]:
                    h.update(x)
                h.update(repr(res[4]).encode())
                st = np.frombuffer(res[0], np.uint32)
                pr = np.frombuffer(res[1], np.uint32)
                if per_step == 3:
                    # keep every other row: the next call skips them (rows already in the LP)
                    attack.forget(st[1::2].tobytes(), pr[1::2].tobytes())
                    kept = (st[0::2].tobytes(), pr[0::2].tobytes())
                else:
                    attack.forget(res[0], res[1])
                    attack.forget(*kept)
                record(f"per_step {per_step}", f"per_step {per_step}, {len(st)} rows", passes())
    else:
        for rep in range(args.reps + 1):
            r = attack.evaluate(w, 10, tol, 1.0, 1e4, 0.0, 4, 20, args.threads)
            lo, up, grad, matched, rounds, added, slacks, _ts, _tm, bids = r
            h.update(repr((lo, up, grad, matched, rounds, added, slacks, bids)).encode())
            ps = passes()
            if rep > 0:
                record("evaluate", f"evaluate {rep}, +{added} edges", ps)
    for label, ps in timed.items():
        crit = sorted(max(p) for p in ps)
        tot = sorted(sum(p) for p in ps)
        say(f"{args.mode}, {args.threads} threads, {label}: median thread CPU per "
            f"pass {crit[len(crit) // 2]:.3f} s critical path (min {crit[0]:.3f}), "
            f"{tot[len(tot) // 2]:.3f} s all threads; {len(ps)} passes")
    say(f"hash {h.hexdigest()[:16]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
