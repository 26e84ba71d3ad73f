"""Data-mixture inference: what a BPE merge list reveals about its training data.

Hayase, Liu, Choi, Oh, Smith, "Data Mixture Inference: What do BPE Tokenizers Reveal about their
Training Data?" (arXiv 2407.16607). A merge list records, step by step, which pair was the most
frequent in the training data. Given a sample of text for each candidate category, Rust replays
the merge list on every sample and records how pair counts evolve (``_core.MixtureAttack``);
here a linear program finds the category proportions ``a`` (by bytes) under which the recorded
merges were the most frequent pairs, with as little slack as possible:

    for every step t and pair p != m_t:
        sum_i a_i (c_i^t(m_t) - c_i^t(p)) / d_i + v_t + v_p >= 0
    a >= 0, sum a = 1, v >= 0;  minimise sum v_t + sum v_p

``c_i^t`` are pair counts in sample i after t merges, ``d_i`` its size in bytes. The rows are far
too many to write down, so they are generated lazily: solve, let Rust find the most violated
rows over all steps, add them in bulk, re-solve warm (HiGHS dual simplex), until none is
violated beyond ``tol``.

``method="bundle"`` solves the same LP as ``min over the simplex of f(a)``, ``f(a)`` = the slack
LP at fixed ``a`` = a maximum-weight matching between steps and pairs (solved exactly in Rust,
``_core.MixtureAttack.evaluate``), with a level bundle method over ``a`` (:func:`_solve_bundle`);
``method="auction"`` solves that matching by the auction algorithm instead, to a proven gap.
"""

from __future__ import annotations

import functools
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Union

from . import _core

if TYPE_CHECKING:
    from . import Tokenizer

__all__ = ["MixtureResult", "infer_mixture"]

SampleItem = Union[str, "os.PathLike[str]"]
Samples = Mapping[str, Union[SampleItem, Iterable[SampleItem]]]

#: HiGHS's default primal feasibility tolerance; the separation tolerance must be looser.
_FEAS_TOL = 1e-7
#: ``method="auction"`` stops once its proven bounds are within this relative gap (or ``gap``).
_AUCTION_GAP = 1e-7
#: ``method="auction"``: the first point is the LP optimum of this many first merges, and each
#: point gets at most this many oracle rounds (its cut and upper bound are valid anyway; the
#: pool of edges keeps growing over the points).
_AUCTION_START = 1000
_AUCTION_ROUNDS = 4
#: ``method="auction"``: each point is evaluated to within this fraction of the current gap
#: between the outer bounds (the auction's own gap and the oracle's remaining excess share it).
_AUCTION_KAPPA = 0.05
#: ``method="auction"``: the oracle's cap on new edges per pair and round.
_AUCTION_PER_PAIR = 20


@dataclass
class MixtureResult:
    """The outcome of :func:`infer_mixture`.

    ``proportions``: estimated share of each category in the training data, by bytes (sums to
    1). ``intervals``: bootstrap confidence intervals ``(low, high)`` (None without bootstrap).
    ``status``: the LP solver's final status ("Optimal"), or how close to the optimum an early
    stop (``gap``, ``time_limit``) left it. ``objective``: the total slack at the returned point;
    ``bound``: the LP's lower bound on the optimum (equal to it when solved exactly).
    ``constraints``: LP rows added by lazy constraint generation over ``rounds`` solves;
    ``pair_slacks``: pair slack variables created.
    ``missing_merges``: steps whose merge occurs in no sample (no constraint; if many, the
    samples do not cover the tokenizer's data). ``absent``: per category, how many merges had
    count 0 in its sample. ``timings``: seconds per phase (``count`` = counting + replay in
    Rust, ``separate``, ``solve``, ``bootstrap``, ``total``).
    """

    categories: list[str]
    proportions: dict[str, float]
    status: str
    objective: float
    merges: int
    rounds: int
    constraints: int
    pair_slacks: int
    sample_bytes: dict[str, int]
    absent: dict[str, int]
    missing_merges: list[int]
    timings: dict[str, float]
    intervals: Optional[dict[str, tuple[float, float]]] = None
    replicates: list[dict[str, float]] = field(default_factory=list)
    bound: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "categories": self.categories,
            "proportions": self.proportions,
            "intervals": (
                None
                if self.intervals is None
                else {k: list(v) for k, v in self.intervals.items()}
            ),
            "status": self.status,
            "objective": self.objective,
            "bound": self.bound,
            "merges": self.merges,
            "rounds": self.rounds,
            "constraints": self.constraints,
            "pair_slacks": self.pair_slacks,
            "sample_bytes": self.sample_bytes,
            "absent": self.absent,
            "missing_merges": self.missing_merges,
            "timings": self.timings,
            "replicates": self.replicates,
        }

    def __str__(self) -> str:
        width = max(8, *(len(c) for c in self.categories))
        lines = [f"{'category':<{width}}  proportion" + ("  interval" if self.intervals else "")]
        for c in sorted(self.categories, key=lambda c: -self.proportions[c]):
            line = f"{c:<{width}}  {self.proportions[c]:10.4f}"
            if self.intervals:
                lo, hi = self.intervals[c]
                line += f"  [{lo:.4f}, {hi:.4f}]"
            lines.append(line)
        t = self.timings
        lines.append(
            f"status {self.status} (objective {self.objective:.6g}, bound {self.bound:.6g}); "
            f"{self.merges} merges, {len(self.missing_merges)} in no "
            f"sample; {self.constraints} rows in {self.rounds} rounds; "
            f"count {t.get('count', 0):.2f}s, separate {t.get('separate', 0):.2f}s, "
            f"solve {t.get('solve', 0):.2f}s, total {t.get('total', 0):.2f}s"
        )
        return "\n".join(lines)

    def plot(self, path: Union[str, os.PathLike[str]]) -> None:
        """Save a bar chart of the proportions (with interval whiskers when bootstrapped).
        Needs matplotlib (``pip install 'bytepair[plot]'``)."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise ImportError(
                "plotting needs matplotlib: pip install 'bytepair[plot]'"
            ) from e
        cats = sorted(self.categories, key=lambda c: -self.proportions[c])
        vals = [self.proportions[c] for c in cats]
        fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(cats) + 2), 3.5))
        yerr = None
        if self.intervals:
            lo = [max(0.0, v - self.intervals[c][0]) for c, v in zip(cats, vals, strict=True)]
            hi = [max(0.0, self.intervals[c][1] - v) for c, v in zip(cats, vals, strict=True)]
            yerr = [lo, hi]
        ax.bar(cats, vals, yerr=yerr, capsize=3, color="#4c72b0")
        ax.set_ylabel("proportion (bytes)")
        ax.set_title(f"inferred mixture ({self.merges} merges)")
        ax.tick_params(axis="x", rotation=45)
        fig.tight_layout()
        target = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(target))
        suffix = os.path.splitext(target)[1] or ".png"
        tmp = os.path.join(folder, f".{os.path.basename(target)}.{os.getpid()}.tmp{suffix}")
        try:
            fig.savefig(tmp)
            os.replace(tmp, target)
        finally:
            plt.close(fig)
            if os.path.exists(tmp):
                os.remove(tmp)


# ---- samples ----------------------------------------------------------------------------


def _is_file(item: SampleItem) -> bool:
    if isinstance(item, os.PathLike):
        return True
    return (
        isinstance(item, str)
        and len(item) < 4096
        and "\n" not in item
        and "\0" not in item
        and os.path.isfile(item)
    )


def _read_prefix(path: str, limit: Optional[int]) -> str:
    """A file's text, at most ``limit`` bytes, cut at a line end (or a character boundary)."""
    with open(path, "rb") as f:
        data = f.read() if limit is None else f.read(limit + 1)
    if limit is not None and len(data) > limit:
        data = data[:limit]
        nl = data.rfind(b"\n")
        if nl > 0:
            data = data[: nl + 1]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        if limit is not None and e.start >= len(data) - 3:
            return data[: e.start].decode("utf-8")
        raise ValueError(f"{path}: invalid UTF-8 at byte offset {e.start}") from None


def _cut(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes of ``text``, cut at a line end when there is one."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    raw = raw[:limit]
    nl = raw.rfind(b"\n")
    if nl > 0:
        raw = raw[: nl + 1]
    return raw.decode("utf-8", errors="ignore")


def load_samples(samples: Samples, sample_bytes: Optional[int] = None) -> dict[str, list[str]]:
    """Each category's texts: paths (``os.PathLike``, or a str naming an existing file) are
    read; other str are texts. ``sample_bytes`` caps each category (taken in order)."""
    if not isinstance(samples, Mapping) or not samples:
        raise ValueError("samples must be a non-empty dict {category: [paths or texts]}")
    if sample_bytes is not None and sample_bytes <= 0:
        raise ValueError(f"sample_bytes must be positive, got {sample_bytes}")
    out: dict[str, list[str]] = {}
    for name, items in samples.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"category names must be non-empty str, got {name!r}")
        if isinstance(items, (str, os.PathLike)):
            items = [items]
        if isinstance(items, bytes):
            raise TypeError(f"category {name!r}: give paths or str texts, not bytes")
        texts: list[str] = []
        left = sample_bytes
        for item in items:
            if left is not None and left <= 0:
                break
            if _is_file(item):
                text = _read_prefix(os.fspath(item), left)
            elif isinstance(item, str):
                text = item if left is None else _cut(item, left)
            else:
                raise TypeError(
                    f"category {name!r}: samples must be paths or str, got {type(item).__name__}"
                )
            if left is not None:
                left -= len(text.encode("utf-8"))
            if text:
                texts.append(text)
        if not texts:
            raise ValueError(f"category {name!r}: the sample is empty")
        out[name] = texts
    return out


_PARA = re.compile(r"(?<=\n\n)")
#: Bootstrap documents longer than this are cut at line ends (a file may hold one huge
#: paragraph, which would make every replicate all-or-nothing).
_DOC_BYTES = 4096


def _documents(text: str) -> list[str]:
    """Blank-line separated paragraphs, long ones cut at line ends; they concatenate back to
    ``text``."""
    out: list[str] = []
    for para in _PARA.split(text):
        if not para:
            continue
        if len(para) <= _DOC_BYTES:
            out.append(para)
            continue
        piece: list[str] = []
        size = 0
        for line in para.splitlines(keepends=True):
            piece.append(line)
            size += len(line)
            if size >= _DOC_BYTES:
                out.append("".join(piece))
                piece, size = [], 0
        if piece:
            out.append("".join(piece))
    return out


def _resample(texts: list[str], rng: Any) -> list[str]:
    """A bootstrap replicate of one category: its documents (see :func:`_documents`) drawn with
    replacement, as many as there are, joined back into one text."""
    docs = [d for t in texts for d in _documents(t)]
    picks = rng.integers(0, len(docs), size=len(docs))
    return ["".join(docs[i] for i in picks)]


# ---- the LP -----------------------------------------------------------------------------


def _highspy() -> Any:
    try:
        import highspy
    except ImportError as e:
        raise ImportError(
            "infer_mixture needs the HiGHS LP solver: pip install 'bytepair[mixture]' (highspy)"
        ) from e
    return highspy


@dataclass
class _Solved:
    proportions: Any
    status: str
    objective: float
    bound: float
    rounds: int
    constraints: int
    pair_slacks: int
    t_separate: float
    t_solve: float


class _Progress:
    """The solve's status on stderr while it runs: bounds, gap and elapsed time, after the first
    round and then at most once a second on a terminal (one line, rewritten in place) or every
    10 seconds otherwise (a log line each). The exact LP of a long merge list can take many
    minutes; this is what tells whether it is converging."""

    def __init__(self, enabled: bool, label: str) -> None:
        self.on = enabled
        self.tty = enabled and sys.stderr.isatty()
        self.every = 1.0 if self.tty else 10.0
        self.label = label
        self.t0 = time.perf_counter()
        self.last = -math.inf  # (the first update is shown at once)
        self.shown = False

    def update(self, what: str, lower: float, best: float) -> None:
        if not self.on:
            return
        now = time.perf_counter()
        if now - self.last < self.every:
            return
        self.last = now
        line = f"{self.label}: {what}, lower bound {lower:.7g}"
        if math.isfinite(best) and best > 0:
            line += f", best {best:.7g} (gap {(best - lower) / best:.2%})"
        line += f", {now - self.t0:.0f}s"
        if self.tty:
            print("\r" + line + "\x1b[K", end="", file=sys.stderr, flush=True)
            self.shown = True
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.shown:
            print(file=sys.stderr, flush=True)
            self.shown = False


def _simplex_model(highspy: Any, bytes_: Sequence[int]) -> tuple[Any, Any]:
    """A quiet HiGHS model whose columns 0..n-1 are the proportions (in [0, 1]) and whose row 0
    makes them sum to 1; and the count scale of each category. Counts are measured per
    mean-sized sample: rows are then in count units (O(1)..O(1e5)), far above the solver's
    tolerances, and the optimum in `a` is unchanged by the scale."""
    import numpy as np

    n = len(bytes_)
    d = np.asarray(bytes_, dtype=np.float64)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    none_i = np.zeros(0, dtype=np.int32)
    h.addCols(n, np.zeros(n), np.zeros(n), np.ones(n), 0, none_i, none_i, np.zeros(0))
    h.addRows(1, np.ones(1), np.ones(1), n, np.zeros(1, dtype=np.int32),
              np.arange(n, dtype=np.int32), np.ones(n))
    return h, d.mean() / d


def _horizons(steps: int, first: int, growth: float) -> list[int]:
    """The merge-list prefixes solved in turn: ``first``, ``first * growth``, ..., ``steps``."""
    out = []
    h = max(1, min(first, steps))
    while h < steps:
        out.append(h)
        h = max(h + 1, math.ceil(h * growth))
    out.append(steps)
    return out


def _solve(
    attack: _core.MixtureAttack,
    bytes_: Sequence[int],
    *,
    tol: float,
    per_step: int,
    max_rows: int,
    max_rounds: int,
    gap: float = 0.0,
    keep_rounds: int = 2,
    pair_cost: float = 1.0,
    first_horizon: Optional[int] = None,
    growth: float = 2.0,
    stage_gap: float = 1e-3,
    time_limit: Optional[float] = None,
    progress: Optional[_Progress] = None,
    last_horizon: Optional[int] = None,
) -> _Solved:
    """Lazy constraint generation with a lower and an upper bound.

    Rows: the oracle (Rust) returns the most violated rows at a point; they are added in bulk
    and HiGHS re-solves warm (dual simplex). Rows that stay inactive (positive activity, so their
    slack is basic and deleting them keeps the basis valid) for ``keep_rounds`` solves in a row
    are deleted and forgotten by the oracle, which may hand them out again: the LP stays near the
    size of its binding set. Deleting inactive rows leaves the optimum unchanged, so the LP
    objective (a lower bound on the optimum) never decreases.

    Growth (off by default: it cost rounds in the benchmark, see bench/README.md): the LP is
    first solved on the first ``first_horizon`` merges (to a relative gap of ``stage_gap``),
    then on prefixes ``growth`` times longer, up to all merges, each stage starting from the
    previous one's mixture, pair slacks and rows.

    ``last_horizon``: solve the LP of the first ``last_horizon`` merges only (the bounds and
    status are then those of that smaller LP).

    Bounds: the LP objective is a lower bound on the optimum; each oracle call also returns the
    excess (the sum over steps of the largest violation), so the LP solution's objective plus
    its excess is the objective of a feasible point of the full LP (raise every step slack by
    its step's largest violation): an upper bound. The best such point is kept.

    Stop: when no row at the LP solution is violated beyond ``tol`` (the exact optimum), or,
    with ``gap`` > 0, when the best point's objective is within ``gap`` (relative) of the lower
    bound, or after ``time_limit`` seconds (status says so, with the gap reached); the best
    point is then returned."""
    import numpy as np

    highspy = _highspy()
    n = len(bytes_)
    steps = attack.steps
    h, scale = _simplex_model(highspy, bytes_)
    inf = highspy.kHighsInf
    zeros_i = np.zeros(0, dtype=np.int32)
    zeros_f = np.zeros(0, dtype=np.float64)
    h.addCols(
        steps, np.ones(steps), np.zeros(steps), np.full(steps, inf), 0, zeros_i, zeros_i, zeros_f
    )
    pair_ids: list[int] = []  # pair slack j is LP column n + steps + j
    pair_col: dict[int, int] = {}
    # The LP solution x and the best point c (a, step slacks, pair slacks in pair_ids order).
    a = np.full(n, 1.0 / n)
    v_step = np.zeros(steps)
    v_pair = np.zeros(0)
    best: Optional[tuple[Any, Any, Any]] = None
    best_f = math.inf
    rounds = rows = 0
    row_steps = np.zeros(0, dtype=np.uint32)  # LP row r + 1 is (row_steps[r], row_pairs[r])
    row_pairs = np.zeros(0, dtype=np.uint32)
    row_age = np.zeros(0, dtype=np.int64)
    t_sep = t_solve = 0.0
    status = "not solved"
    objective = 0.0
    lower = 0.0  # the LP objective at the current horizon (a lower bound there)
    lower_valid = False
    top = steps if last_horizon is None else max(1, min(steps, last_horizon))
    horizons = _horizons(top, first_horizon or top, growth)
    t_begin = time.perf_counter()
    stage = 0
    debug = bool(os.environ.get("BYTEPAIR_MIXTURE_DEBUG"))

    def oracle(point: tuple[Any, Any, Any], horizon: int) -> tuple[Any, ...]:
        pa, ps, pp = point
        ids = np.asarray(pair_ids, dtype=np.uint32)
        return tuple(
            attack.separate(
                (pa * scale).tolist(),
                ps.tobytes(),
                ids.tobytes(),
                np.ascontiguousarray(pp, dtype=np.float64).tobytes(),
                tol,
                per_step,
                max_rows,
                horizon,
            )
        )

    def value(point: tuple[Any, Any, Any], horizon: int, excess: float) -> float:
        return float(point[1][:horizon].sum() + pair_cost * point[2].sum() + excess)

    while True:
        horizon = horizons[stage]
        final = stage + 1 == len(horizons)
        x = (a, v_step, v_pair)
        t0 = time.perf_counter()
        s_raw, p_raw, v_raw, d_raw, excess = oracle(x, horizon)
        t_sep += time.perf_counter() - t0
        f = value(x, horizon, excess)
        if f < best_f:
            best, best_f = x, f
        cut_steps = np.frombuffer(s_raw, dtype=np.uint32)
        k = len(cut_steps)
        limit = gap if final else max(gap, stage_gap)
        close = lower_valid and best_f - lower <= limit * max(best_f, 1e-300)
        late = time_limit is not None and time.perf_counter() - t_begin > time_limit
        if late and not final:  # no time left for the growth: go to all merges
            stage = len(horizons) - 1
            best, best_f, lower_valid = None, math.inf, False
            continue
        out_of_time = final and late
        if k == 0 or close or out_of_time:
            if final:
                if k and best is not None:  # stopped early: the best feasible point
                    rel = (best_f - lower) / max(best_f, 1e-300)
                    why = "gap" if close else "time limit"
                    status = f"{why}: within {rel:.3g} of the optimum"
                    a, v_step, v_pair = best[0], best[1], best[2]
                    objective = best_f
                break
            stage += 1
            best, best_f, lower_valid = None, math.inf, False
            continue
        if rounds >= max_rounds:
            raise RuntimeError(
                f"lazy constraint generation did not converge in {max_rounds} rounds "
                f"({rows} rows; still {k} violated); raise max_rounds, tol or gap"
            )
        cut_pairs = np.frombuffer(p_raw, dtype=np.uint32)
        diff = np.frombuffer(d_raw, dtype=np.float64).reshape(k, n) * scale
        new = [int(p) for p in dict.fromkeys(cut_pairs.tolist()) if int(p) not in pair_col]
        if new:
            base = h.getNumCol()
            h.addCols(
                len(new),
                np.full(len(new), pair_cost),
                np.zeros(len(new)),
                np.full(len(new), inf),
                0,
                zeros_i,
                zeros_i,
                zeros_f,
            )
            for j, p in enumerate(new):
                pair_col[p] = base + j
            pair_ids.extend(new)
        # Row r: sum_i diff[r, i] a_i + v_step + v_pair >= 0, dense in the n category columns
        # (HiGHS drops the zero coefficients).
        pc = np.fromiter((pair_col[int(p)] for p in cut_pairs), dtype=np.int32, count=k)
        idx = np.empty((k, n + 2), dtype=np.int32)
        idx[:, :n] = np.arange(n, dtype=np.int32)
        idx[:, n] = n + cut_steps.astype(np.int32)
        idx[:, n + 1] = pc
        val = np.ones((k, n + 2), dtype=np.float64)
        val[:, :n] = diff
        starts = np.arange(k, dtype=np.int32) * (n + 2)
        idx_flat = idx.ravel()
        val_flat = val.ravel()
        h.addRows(k, np.zeros(k), np.full(k, inf), len(idx_flat), starts, idx_flat, val_flat)
        rows += k
        row_steps = np.concatenate([row_steps, cut_steps])
        row_pairs = np.concatenate([row_pairs, cut_pairs])
        row_age = np.concatenate([row_age, np.zeros(k, dtype=np.int64)])
        rounds += 1
        t0 = time.perf_counter()
        h.run()
        t_round = time.perf_counter() - t0
        t_solve += t_round
        model_status = h.getModelStatus()
        status = h.modelStatusToString(model_status)
        if model_status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(
                f"the mixture LP was not solved to optimality: HiGHS status {status!r} "
                f"(after {rounds} rounds, {rows} rows)"
            )
        objective = lower = float(h.getInfo().objective_function_value)
        lower_valid = True
        if progress is not None:
            progress.update(f"round {rounds}, {h.getNumRow() - 1} rows", lower, best_f)
        if debug:
            print(
                f"round {rounds} (horizon {horizon}): +{k} rows "
                f"(max violation "
                f"{np.frombuffer(v_raw, dtype=np.float64).max():.3g}), LP {h.getNumRow()} x "
                f"{h.getNumCol()}, bound {lower:.8g}, best {best_f:.8g}, "
                f"{h.getInfo().simplex_iteration_count} iterations, {t_round:.3f}s",
                file=sys.stderr,
            )
        sol = h.getSolution()
        xs = np.asarray(sol.col_value)
        activity = np.asarray(sol.row_value)[1:]
        row_age = np.where(activity > tol, row_age + 1, 0)
        drop = np.flatnonzero(row_age >= keep_rounds)
        if len(drop):
            h.deleteRows(len(drop), (drop + 1).astype(np.int32))
            attack.forget(row_steps[drop].tobytes(), row_pairs[drop].tobytes())
            keep = np.ones(len(row_age), dtype=bool)
            keep[drop] = False
            row_steps, row_pairs, row_age = row_steps[keep], row_pairs[keep], row_age[keep]
        a = np.clip(xs[:n], 0.0, None)
        v_step = np.clip(xs[n : n + steps], 0.0, None)
        v_pair = np.clip(xs[n + steps : n + steps + len(pair_ids)], 0.0, None)
    early = status.startswith(("gap", "time limit"))
    if rounds == 0 and not early:
        status = "Optimal"  # no row is violated by the uniform mixture with zero slack
    total = a.sum()
    props = a / total if total > 0 else np.full(n, 1.0 / n)
    bound = lower if lower_valid else (0.0 if early else objective)
    return _Solved(
        props, status, objective, bound, rounds, rows, len(pair_col), t_sep, t_solve
    )


def _project(cuts: Any, level: float, center: Any) -> Optional[Any]:
    """The point of the simplex nearest (in the L1 norm) to ``center`` with every cut
    ``g . a`` at most ``level``: a small LP (HiGHS); None if it is not solved. (HiGHS's QP
    solver, for the Euclidean projection, stalled for minutes on such problems.)"""
    import numpy as np

    highspy = _highspy()
    n = len(center)
    k = len(cuts)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    zi = np.zeros(0, dtype=np.int32)
    zf = np.zeros(0, dtype=np.float64)
    # columns: a (n), p (n), q (n) with a - p + q = center
    h.addCols(n, np.zeros(n), np.zeros(n), np.ones(n), 0, zi, zi, zf)
    h.addCols(2 * n, np.ones(2 * n), np.zeros(2 * n), np.full(2 * n, inf), 0, zi, zi, zf)
    idx = np.arange(n, dtype=np.int32)
    rows_idx = np.stack([idx, idx + n, idx + 2 * n], axis=1).ravel()
    rows_val = np.tile(np.array([1.0, -1.0, 1.0]), n)
    c = np.asarray(center, dtype=np.float64)
    h.addRows(n, c, c, 3 * n, np.arange(n, dtype=np.int32) * 3, rows_idx, rows_val)
    h.addRows(1, np.ones(1), np.ones(1), n, np.zeros(1, dtype=np.int32), idx, np.ones(n))
    g = np.asarray(cuts, dtype=np.float64).reshape(k, n)
    h.addRows(k, np.full(k, -inf), np.full(k, level), k * n,
              np.arange(k, dtype=np.int32) * n, np.tile(idx, k), g.ravel())
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    x = np.clip(np.asarray(h.getSolution().col_value)[:n], 0.0, None)
    return x / x.sum() if x.sum() > 0 else None


def _solve_bundle(
    attack: _core.MixtureAttack,
    bytes_: Sequence[int],
    *,
    tol: float,
    per_step: int,
    max_rounds: int,
    gap: float = 0.0,
    time_limit: Optional[float] = None,
    level: float = 0.3,
    progress: Optional[_Progress] = None,
    auction: bool = False,
) -> _Solved:
    """The LP as ``min over the simplex of f(a)``, ``f(a)`` = its value in the slacks at fixed
    proportions, by a level bundle method (Lemarechal, Nemirovskii, Nesterov 1995).

    ``attack.evaluate`` (Rust) computes ``f(a)`` exactly: for fixed ``a`` the slack LP is the
    dual of a maximum-weight matching between steps and pairs, whose optimal matching ``M``
    gives a lower bound and a cut ``f(a') >= g_M . a'`` valid for every ``a'``, and whose cover
    (plus any remaining excess) an upper bound. Outer loop over the n proportions: the master
    LP ``min z, z >= g_k . a`` over the cuts so far gives a lower bound on the optimum; the
    next point is the projection of the best point onto the level set ``{g_k . a <= level}``
    with ``level`` a fraction ``level`` of the way from the lower to the upper bound (this
    stabilises the plain cutting-plane method, which zigzags). Stops when the bounds meet
    (relative ``gap``, and always to within the inner evaluation's own tolerance), or after
    ``time_limit`` seconds with the best point.

    ``auction``: the inner matching is solved by the auction algorithm with epsilon-scaling,
    warm from the previous point's prices (``method="auction"``), to a precision tied to how
    far the outer bounds still are apart: the auction's own gap (``rows x eps``) is at most
    ``_AUCTION_KAPPA / 2`` of the current gap (and never finer than needed for the target), and
    a point's oracle passes stop once the remaining excess is below as much again, or after
    ``_AUCTION_ROUNDS`` passes (a point far from the optimum then has a wide bracket, but its
    cut and upper bound are valid all the same, and the edge pool grows over the points). On
    merge lists longer than ``2 * _AUCTION_START`` the first point is the lazy LP's optimum on
    the first ``_AUCTION_START`` merges. Stop rule: master bound and best upper bound within a
    relative ``max(gap, _AUCTION_GAP)``: optimal to that proven gap."""
    import numpy as np

    highspy = _highspy()
    n = len(bytes_)
    master, scale = _simplex_model(highspy, bytes_)
    inf = highspy.kHighsInf
    zi = np.zeros(0, dtype=np.int32)
    zf = np.zeros(0, dtype=np.float64)
    # columns: a_0..a_{n-1}, z (free: f >= 0 anyway)
    master.addCols(1, np.ones(1), np.zeros(1), np.full(1, inf), 0, zi, zi, zf)
    debug = bool(os.environ.get("BYTEPAIR_MIXTURE_DEBUG"))
    t_begin = time.perf_counter()
    t_sep = t_match = t_master = 0.0
    cuts: list[Any] = []
    a = np.full(n, 1.0 / n)
    best_a, best_f, best_slacks = a, math.inf, 0
    lower = 0.0
    inner_gap = 0.0
    iters = inner_rounds = 0
    status = "not solved"
    target = max(gap, _AUCTION_GAP) if auction else gap
    rows = max(1, attack.steps)
    bids = 0
    if auction and attack.steps > 2 * _AUCTION_START:
        # The first point: the optimum of the first merges' LP (lazy, a few seconds). Far from
        # the optimum f is expensive to evaluate (many pairs need a slack); the first merges
        # already place the mixture close to it.
        first = _solve(attack, bytes_, tol=tol, per_step=3, max_rows=5_000,
                       max_rounds=max_rounds, last_horizon=_AUCTION_START)
        a = np.asarray(first.proportions, dtype=np.float64)
        t_sep += first.t_separate
        t_master += first.t_solve
    while True:
        if auction:
            # Before the first point f is unknown: a coarse first evaluation (its bracket may
            # be wide; only its cut and upper bound are used), then precision from the best f.
            budget = (
                max(0.25 * target * best_f, _AUCTION_KAPPA * (best_f - lower))
                if math.isfinite(best_f)
                else math.inf
            )
            eps = budget / (2 * rows) if math.isfinite(budget) else 1.0
            eps0 = 1e4
            stop = budget / 2 if math.isfinite(budget) else 0.0
            lo, up, grad, matched, rounds, added, slacks, ts, tm, nb = attack.evaluate(
                (a * scale).tolist(), per_step, tol, eps, eps0, stop, _AUCTION_ROUNDS,
                _AUCTION_PER_PAIR,
            )
            bids += nb
        else:
            lo, up, grad, matched, rounds, added, slacks, ts, tm, _ = attack.evaluate(
                (a * scale).tolist(), per_step, tol
            )
        iters += 1
        inner_rounds += rounds
        t_sep += ts
        t_match += tm
        g = np.asarray(grad) * scale
        cuts.append(g)
        if up < best_f:
            best_a, best_f, best_slacks = a, up, slacks
            inner_gap = up - lo
        t0 = time.perf_counter()
        master.addRows(1, np.zeros(1), np.full(1, inf), n + 1,
                       np.zeros(1, dtype=np.int32), np.arange(n + 1, dtype=np.int32),
                       np.concatenate([-g, np.ones(1)]))
        master.run()
        if master.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(
                "the mixture master LP was not solved: HiGHS status "
                f"{master.modelStatusToString(master.getModelStatus())!r}"
            )
        lower = max(lower, float(master.getInfo().objective_function_value))
        t_master += time.perf_counter() - t0
        spread = best_f - lower
        if progress is not None:
            progress.update(f"iteration {iters}", lower, best_f)
        if debug:
            print(
                f"iteration {iters}: f in [{lo:.10g}, {up:.10g}] ({rounds} rounds, +{added} "
                f"edges, {bids} bids so far, "
                f"{attack.num_edges} in pool, {matched} matched); bounds [{lower:.10g}, "
                f"{best_f:.10g}] gap {spread / max(best_f, 1e-300):.3g}; separate {ts:.2f}s "
                f"match {tm:.2f}s; {time.perf_counter() - t_begin:.1f}s",
                file=sys.stderr,
            )
        # (plus an absolute 1e-9: an optimum of 0 leaves rounding noise of ~1e-13 in best_f)
        if auction and spread <= target * best_f + 1e-9 * max(best_f, 1.0):
            status = "Optimal" if gap <= _AUCTION_GAP else (
                f"gap: within {spread / max(best_f, 1e-300):.3g} of the optimum"
            )
            break
        if not auction and spread <= gap * best_f + 2 * inner_gap + 1e-9 * max(best_f, 1.0):
            status = "Optimal" if spread <= 1e-9 * max(best_f, 1.0) + 2 * inner_gap else (
                f"gap: within {spread / max(best_f, 1e-300):.3g} of the optimum"
            )
            break
        if time_limit is not None and time.perf_counter() - t_begin > time_limit:
            status = f"time limit: within {spread / max(best_f, 1e-300):.3g} of the optimum"
            break
        if iters >= max_rounds:
            raise RuntimeError(
                f"the bundle method did not converge in {max_rounds} iterations (bounds "
                f"{lower:.8g}, {best_f:.8g}); raise max_rounds or gap"
            )
        t0 = time.perf_counter()
        nxt = _project(cuts, lower + level * spread, best_a)
        t_master += time.perf_counter() - t0
        if nxt is None:  # numerically empty level set: take the master's point
            nxt = np.clip(np.asarray(master.getSolution().col_value)[:n], 0.0, None)
            nxt = nxt / nxt.sum()
        a = nxt
    return _Solved(
        best_a / best_a.sum(), status, best_f, lower, iters, attack.num_edges, best_slacks,
        t_sep, t_match + t_master,
    )


def infer_mixture(
    tokenizer: Union[Tokenizer, str, os.PathLike[str]],
    samples: Samples,
    merges: int = 30_000,
    sample_bytes: Optional[int] = None,
    bootstrap: int = 0,
    *,
    confidence: float = 0.95,
    seed: int = 0,
    tol: Optional[float] = None,
    per_step: Optional[int] = None,
    max_rows: int = 5_000,
    max_rounds: int = 2_000,
    gap: float = 0.0,
    time_limit: Optional[float] = None,
    num_threads: Optional[int] = None,
    method: str = "auction",
    progress: Optional[bool] = None,
) -> MixtureResult:
    """Estimate the proportions (by bytes) of the categories in ``tokenizer``'s training data.

    ``tokenizer``: a :class:`bytepair.Tokenizer` (trained, HF ``tokenizer.json``, GPT-2
    ``merges.txt``/``vocab.json``, tiktoken rank file: merges are rebuilt from the ranks) or a
    path that :meth:`Tokenizer.from_file` loads. ``samples``: ``{category: paths or texts}``;
    each category's sample must come from the same distribution as that category's share of
    the training data. Samples are normalized, split at special tokens and pretokenized exactly
    as the tokenizer does. ``merges``: how many merges of the list to use (from the first).
    ``sample_bytes``: cap on each category's sample. ``bootstrap``: number of replicates that
    resample each category's documents (blank-line separated paragraphs, long ones cut at
    line ends into ~4 KB pieces) for ``confidence`` intervals. ``tol``: separation tolerance
    in counts of a mean-sized sample (default 1000 x the solver's feasibility tolerance);
    ``per_step`` / ``max_rows``: rows added per step / per round. ``gap``: stop once the best
    feasible point found is within this relative gap of the LP's lower bound (0: the exact
    optimum); ``time_limit``: seconds of solving (per LP, bootstrap replicates included) after
    which the best point found is returned; either way ``status`` says how far from the optimum
    it may be and ``bound`` holds the lower bound. ``method``: ``"auction"`` (default: a level
    bundle method over the proportions whose inner problem, the slacks at fixed proportions, is
    a maximum-weight matching, solved in Rust by an auction warm from the previous point's
    prices: optimal to a proven relative gap of ``max(gap, 1e-7)``; the fastest on the
    benchmarks, see bench/README.md), ``"lazy"`` (lazy constraint generation on the whole LP,
    HiGHS: the exact LP optimum) or ``"bundle"`` (the bundle method with an exact Hungarian
    matching; same optimum, slower); with ``"bundle"`` and
    ``"auction"``, ``rounds`` counts outer iterations, ``constraints`` the matching edges
    found, ``per_step`` the edges added per step and oracle pass (default 10; 3 for
    ``"lazy"``). ``num_threads``: threads for counting (categories in parallel) and for
    the separation passes (ranges of merge steps in parallel; default: all cores); the result
    does not depend on it. ``progress``: the solve's bounds, gap and time on stderr
    while it runs (None: only when stderr is a terminal).

    Raises ValueError for an empty category sample, a merge list that cannot be replayed, or
    bad arguments; ImportError when highspy is missing; RuntimeError if the LP is not solved.
    """
    import numpy as np

    from . import Tokenizer

    _highspy()
    t_start = time.perf_counter()
    if isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = Tokenizer.from_file(tokenizer)
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError("tokenizer must be a bytepair.Tokenizer or a path to a tokenizer file")
    if not isinstance(merges, int) or merges < 1:
        raise ValueError(f"merges must be a positive int, got {merges!r}")
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be >= 0, got {bootstrap}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if not (math.isfinite(gap) and gap >= 0):
        raise ValueError(f"gap must be >= 0, got {gap}")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be positive, got {time_limit}")
    if method not in ("auction", "bundle", "lazy"):
        raise ValueError(f"method must be 'lazy', 'bundle' or 'auction', got {method!r}")
    if per_step is not None and per_step < 1:
        raise ValueError(f"per_step must be >= 1, got {per_step}")
    tol = 1000 * _FEAS_TOL if tol is None else float(tol)
    if not (math.isfinite(tol) and tol > _FEAS_TOL):
        raise ValueError(
            f"tol must exceed the LP solver's feasibility tolerance {_FEAS_TOL:g}, got {tol}"
        )
    texts = load_samples(samples, sample_bytes)
    names = list(texts)
    core = tokenizer._core
    if len(tokenizer.merges) == 0:
        raise ValueError("the tokenizer has no merges")

    show = sys.stderr.isatty() if progress is None else bool(progress)

    def run(
        category_texts: list[list[str]], label: str
    ) -> tuple[_Solved, _core.MixtureAttack, float]:
        t0 = time.perf_counter()
        try:
            attack = _core.MixtureAttack(core, category_texts, merges, num_threads)
        except ValueError as e:
            m = re.match(r"category (\d+): (.*)", str(e), re.S)
            if m and int(m.group(1)) < len(names):
                raise ValueError(f"category {names[int(m.group(1))]!r}: {m.group(2)}") from None
            raise
        t_count = time.perf_counter() - t0
        bar = _Progress(show, label)
        try:
            solved = solve(attack, bar)
        finally:
            bar.close()
        return solved, attack, t_count

    def solve(attack: _core.MixtureAttack, bar: _Progress) -> _Solved:
        solver = (
            functools.partial(
                _solve_bundle,
                per_step=10 if per_step is None else per_step,
                auction=method == "auction",
            )
            if method in ("bundle", "auction")
            else functools.partial(
                _solve, per_step=3 if per_step is None else per_step, max_rows=max_rows
            )
        )
        return solver(
            attack,
            attack.sample_bytes(),
            tol=tol,
            max_rounds=max_rounds,
            gap=gap,
            time_limit=time_limit,
            progress=bar,
        )

    solved, attack, t_count = run([texts[c] for c in names], f"mixture LP ({method})")
    intervals: Optional[dict[str, tuple[float, float]]] = None
    replicates: list[dict[str, float]] = []
    t_boot = 0.0
    if bootstrap:
        t0 = time.perf_counter()
        rng = np.random.default_rng(seed)
        for k in range(bootstrap):
            rep = [_resample(texts[c], rng) for c in names]
            s, _, _ = run(rep, f"bootstrap replicate {k + 1}/{bootstrap}")
            replicates.append({c: float(p) for c, p in zip(names, s.proportions, strict=True)})
        alpha = (1 - confidence) / 2
        intervals = {}
        for c in names:
            vals = np.array([r[c] for r in replicates])
            intervals[c] = (float(np.quantile(vals, alpha)), float(np.quantile(vals, 1 - alpha)))
        t_boot = time.perf_counter() - t0
    bytes_ = attack.sample_bytes()
    absent = attack.absent()
    return MixtureResult(
        categories=names,
        proportions={c: float(p) for c, p in zip(names, solved.proportions, strict=True)},
        status=solved.status,
        objective=solved.objective,
        bound=solved.bound,
        merges=attack.steps,
        rounds=solved.rounds,
        constraints=solved.constraints,
        pair_slacks=solved.pair_slacks,
        sample_bytes={c: int(b) for c, b in zip(names, bytes_, strict=True)},
        absent={c: int(x) for c, x in zip(names, absent, strict=True)},
        missing_merges=[int(t) for t in attack.missing_steps()],
        timings={
            "count": t_count,
            "separate": solved.t_separate,
            "solve": solved.t_solve,
            "bootstrap": t_boot,
            "total": time.perf_counter() - t_start,
        },
        intervals=intervals,
        replicates=replicates,
    )


def mse(truth: Mapping[str, float], pred: Mapping[str, float]) -> float:
    """Mean squared error of proportions over the categories of ``truth``."""
    return sum((pred.get(c, 0.0) - p) ** 2 for c, p in truth.items()) / len(truth)

