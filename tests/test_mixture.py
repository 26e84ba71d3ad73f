"""Data-mixture inference: known answers, an independent full-LP reference, bad input, the CLI,
and a small version of the controlled experiment (bench/mixture.py)."""

from __future__ import annotations

import functools
import json
import math
import random
import subprocess
import sys
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import SHARED_CORPUS, fixture_text

bp = pytest.importorskip("bytepair")
highspy = pytest.importorskip("highspy")
regex = pytest.importorskip("regex")

# Each ASCII letter -> a distinct Greek/Coptic letter (U+03B1.., U+0391.. skipping U+03A2).
_LOWER = [*[chr(0x3B1 + i) for i in range(25)], chr(0x3DD)]
_UPPER = [*[chr(c) for c in range(0x391, 0x3AB) if c != 0x3A2][:25], chr(0x3DC)]
GREEK = str.maketrans(dict(zip(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", _LOWER + _UPPER, strict=True)))


def en() -> str:
    return fixture_text("en_kjv")


def greek() -> str:
    """English with every ASCII letter replaced by a Greek one: disjoint letter alphabets."""
    return en().translate(GREEK)


def halves(text: str) -> tuple[str, str]:
    """Blank-line separated paragraphs, shuffled with a fixed seed and alternated."""
    paras = [p + "\n\n" for p in text.split("\n\n") if p.strip()]
    random.Random(0).shuffle(paras)
    return "".join(paras[0::2]), "".join(paras[1::2])


# ---- known answers --------------------------------------------------------------------------


def test_tokenizer_trained_on_one_category_is_attributed_to_it() -> None:
    code = fixture_text("code_python")
    train, attack = halves(code)
    tok = bp.train_from_iterator([train], 600, pattern="gpt2")
    res = bp.infer_mixture(
        tok,
        {"en": [en()[:20_000]], "python": [attack], "greek": [greek()[:20_000]]},
        merges=300,
    )
    assert res.proportions["python"] > 0.97, res
    assert abs(sum(res.proportions.values()) - 1) < 1e-9
    assert res.status == "Optimal"
    assert res.merges == 300


@pytest.mark.parametrize("share", [0.3, 0.7])
def test_disjoint_alphabets_give_the_true_share(share: float) -> None:
    """Samples equal to the training text: the true mixture satisfies every merge with zero
    slack, so the LP optimum is 0 and the estimate lands close to the truth."""
    a, b = en(), greek()
    na = int(len(a.encode()) * share)
    nb = int(len(b.encode()) * (1 - share))
    ta = a.encode()[:na].decode("utf-8", "ignore")
    tb = b.encode()[:nb].decode("utf-8", "ignore")
    tok = bp.train_from_iterator([ta, tb], 700, pattern="gpt2")
    res = bp.infer_mixture(tok, {"latin": [ta], "greek": [tb]}, merges=400)
    truth = len(ta.encode()) / (len(ta.encode()) + len(tb.encode()))
    assert res.objective == pytest.approx(0, abs=1e-6)
    assert res.proportions["latin"] == pytest.approx(truth, abs=0.02), res


# ---- an independent reference: pure-Python replay and the full LP ----------------------------


def reference_counts(tok: bp.Tokenizer, text: str, merges: list[tuple[bytes, bytes]]):
    """Pair counts (by token bytes) before each merge: the `regex` module splits, a plain loop
    applies each merge to every pretoken, and all pairs are recounted from scratch."""
    words = Counter(regex.findall(tok.pattern, text))
    seqs = [([bytes([b]) for b in w.encode("utf-8")], c) for w, c in words.items()]
    states = []
    for left, right in merges:
        counts: Counter[tuple[bytes, bytes]] = Counter()
        for s, c in seqs:
            for x, y in pairwise(s):
                counts[(x, y)] += c
        states.append(counts)
        for k, (s, c) in enumerate(seqs):
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == left and s[i + 1] == right:
                    out.append(left + right)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[k] = (out, c)
    return states


def reference_lp(
    tok: bp.Tokenizer, samples: dict[str, str], steps: int, fixed: list[float] | None = None
) -> tuple[float, list[float]]:
    """Every row written down, solved at once with HiGHS: (objective, proportions). ``fixed``:
    the proportions are fixed to these (only the slacks are free)."""
    merges = tok.merges[:steps]
    names = list(samples)
    n = len(names)
    d = np.array([len(samples[c].encode()) for c in names], dtype=float)
    scale = d.mean() / d
    states = [reference_counts(tok, samples[c], merges) for c in names]
    pairs = sorted({p for st in states for s in st for p in s})
    pid = {p: i for i, p in enumerate(pairs)}
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    h.addVars(n + steps + len(pairs), np.zeros(n + steps + len(pairs)),
              np.r_[np.ones(n), np.full(steps + len(pairs), inf)])
    h.changeColsCost(n + steps + len(pairs), np.arange(n + steps + len(pairs), dtype=np.int32),
                     np.r_[np.zeros(n), np.ones(steps + len(pairs))])
    h.addRow(1, 1, n, np.arange(n, dtype=np.int32), np.ones(n))
    if fixed is not None:
        h.changeColsBounds(n, np.arange(n, dtype=np.int32), np.asarray(fixed), np.asarray(fixed))
    for t, m in enumerate(merges):
        cm = np.array([states[i][t].get(m, 0) for i in range(n)], dtype=float)
        if not cm.any():
            continue  # a merge found in no sample carries no information
        seen = sorted({p for i in range(n) for p in states[i][t]} - {m})
        if not seen:
            continue
        cp = np.array([[states[i][t].get(p, 0) for i in range(n)] for p in seen], dtype=float)
        coef = (cm - cp) * scale
        k = len(seen)
        idx = np.empty((k, n + 2), dtype=np.int32)
        idx[:, :n] = np.arange(n)
        idx[:, n] = n + t
        idx[:, n + 1] = [n + steps + pid[p] for p in seen]
        val = np.ones((k, n + 2))
        val[:, :n] = coef
        h.addRows(k, np.zeros(k), np.full(k, inf), k * (n + 2),
                  np.arange(k, dtype=np.int32) * (n + 2), idx.ravel(), val.ravel())
    h.run()
    assert h.modelStatusToString(h.getModelStatus()) == "Optimal"
    x = np.asarray(h.getSolution().col_value)
    return h.getInfo().objective_function_value, list(x[:n])


@functools.cache
def reference_case() -> tuple[bp.Tokenizer, dict[str, str], float, list[float]]:
    """Three categories, 70 merges: the tokenizer, the samples and the full LP's optimum."""
    a_train, a_att = halves(en())
    b_train, b_att = halves(fixture_text("code_python"))
    c_train, c_att = halves(fixture_text("code_rust"))
    tok = bp.train_from_iterator([a_train[:12_000], b_train[:6_000], c_train[:3_000]], 356,
                                 pattern="gpt2")
    samples = {"en": a_att[:5_000], "python": b_att[:5_000], "rust": c_att[:5_000]}
    obj, props = reference_lp(tok, samples, 70)
    return tok, samples, obj, props


@pytest.mark.parametrize("method", ["lazy", "bundle", "auction", "auction-started"])
def test_lazy_lp_reaches_the_full_lp_optimum(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tok, samples, obj, props = reference_case()
    if method == "auction-started":  # the first point from the LP of the first 20 merges
        monkeypatch.setattr(bp.mixture, "_AUCTION_START", 20)
        method = "auction"
    res = bp.infer_mixture(tok, {k: [v] for k, v in samples.items()}, merges=70, method=method)
    # "auction" stops at a proven relative gap of 1e-7: bound <= optimum <= objective.
    assert res.bound <= obj * (1 + 1e-9) + 1e-9 <= res.objective * (1 + 2e-9) + 2e-9
    assert res.objective == pytest.approx(obj, rel=2e-7, abs=1e-6)
    assert res.bound == pytest.approx(obj, rel=2e-7, abs=1e-6)
    # The optimum in `a` may not be unique; both must be optimal, and here they agree closely.
    for c, p in zip(samples, props, strict=True):
        assert res.proportions[c] == pytest.approx(p, abs=0.02)
    assert res.constraints > 0 and res.rounds > 0
    assert res.status == "Optimal"


def fixed_point_case(point: list[float]) -> tuple[Any, Any, float, Any]:
    """The reference case's attack at 70 merges, the scale of its proportions (mean sample bytes
    over each category's), the slack LP's value at `point` (HiGHS), and that LP as a function of
    another point."""
    tok, samples, _, _ = reference_case()
    names = list(samples)
    attack = bp._core.MixtureAttack(tok._core, [[samples[c]] for c in names], 70)
    d = np.array(attack.sample_bytes(), dtype=float)
    want, _ = reference_lp(tok, samples, 70, fixed=point)
    return attack, d.mean() / d, want, lambda other: reference_lp(tok, samples, 70, fixed=other)[0]


@pytest.mark.parametrize("point", [[1 / 3, 1 / 3, 1 / 3], [0.7, 0.2, 0.1], [0.0, 0.0, 1.0]])
def test_matching_gives_the_slack_lp_at_fixed_proportions(point: list[float]) -> None:
    """The bundle method's inner problem: at fixed proportions, the maximum matching's weight
    (lower) and the cover's value (upper) both equal the slack LP solved by HiGHS, and the
    matching's cut is exact at the point and below the LP's value elsewhere."""
    attack, scale, want, slack_lp = fixed_point_case(point)
    lo, up, grad, matched, rounds, _, _, _, _, _ = attack.evaluate(
        list(np.asarray(point) * scale), 10, 1e-4
    )
    assert lo == pytest.approx(want, rel=1e-7, abs=1e-6)
    assert up == pytest.approx(want, rel=1e-7, abs=1e-6)
    assert matched > 0 and rounds >= 1 and attack.num_edges > 0
    cut = np.asarray(grad) * scale
    assert float(cut @ np.asarray(point)) == pytest.approx(want, rel=1e-7, abs=1e-6)
    other = [0.2, 0.5, 0.3]
    assert float(cut @ np.asarray(other)) <= slack_lp(other) + 1e-6


@pytest.mark.parametrize("point", [[1 / 3, 1 / 3, 1 / 3], [0.7, 0.2, 0.1], [0.0, 0.0, 1.0]])
def test_auction_brackets_the_slack_lp_at_fixed_proportions(point: list[float]) -> None:
    """The auction inner solver: its matching's weight (lower) and cover plus excess (upper)
    bracket the slack LP solved by HiGHS, at most rows x eps apart; the cut is exact at the
    point (it is the matching's weight) and below the LP's value elsewhere."""
    attack, scale, want, slack_lp = fixed_point_case(point)
    w = list(np.asarray(point) * scale)
    for eps, per_pair in [(1e-3, None), (1e-6, 1)]:
        lo, up, grad, matched, rounds, _, _, _, _, bids = attack.evaluate(
            w, 10, 1e-4, eps, 100.0, 0.0, None, per_pair
        )
        assert lo <= want + 1e-6 and up >= want - 1e-6, (lo, want, up)
        assert up - lo <= 70 * eps + 1e-6
        assert bids > 0 and matched > 0 and rounds >= 1
        cut = np.asarray(grad) * scale
        assert float(cut @ np.asarray(point)) == pytest.approx(lo, rel=1e-9, abs=1e-9)
        other = [0.2, 0.5, 0.3]
        assert float(cut @ np.asarray(other)) <= slack_lp(other) + 1e-6
    with pytest.raises(ValueError, match="eps and eps0 must be"):
        attack.evaluate(w, 10, 1e-4, -1.0)


@pytest.mark.parametrize("method", ["lazy", "auction"])
def test_threads_give_the_same_answer(method: str) -> None:
    """The separation passes split the merge steps over threads; the rows they hand out, and so
    the whole solve, do not depend on the thread count."""
    tok, samples, _, _ = reference_case()
    texts = {k: [v] for k, v in samples.items()}
    one = bp.infer_mixture(tok, texts, merges=70, method=method, num_threads=1)
    two = bp.infer_mixture(tok, texts, merges=70, method=method, num_threads=2)
    assert two.proportions == one.proportions
    assert (two.objective, two.bound) == (one.objective, one.bound)
    assert (two.rounds, two.constraints) == (one.rounds, one.constraints)
    # One pass at a point with violated rows: the same rows, bytes for bytes, for 1, 2 and 5
    # threads (5 ranges of 14 steps).
    names = list(samples)
    passes = []
    for threads in (1, 2, 5):
        attack = bp._core.MixtureAttack(tok._core, [[samples[c]] for c in names], 70, threads)
        d = np.array(attack.sample_bytes(), dtype=float)
        w = list(np.array([0.6, 0.3, 0.1]) * d.mean() / d)
        v_step = np.zeros(attack.steps).tobytes()
        passes.append(attack.separate(w, v_step, b"", b"", 1e-4, 3, 10_000))
    assert len(passes[0][0]) > 0
    assert passes[1] == passes[0] and passes[2] == passes[0]


def test_auction_agrees_with_the_lazy_lp_on_more_merges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four categories, 600 merges: the same optimum as lazy constraint generation (to the
    auction's proven gap of 1e-7), the first point taken from the first 200 merges' LP."""
    monkeypatch.setattr(bp.mixture, "_AUCTION_START", 200)
    parts = [en(), greek(), fixture_text("code_python"), fixture_text("code_rust")]
    trains, attacks = zip(*(halves(t) for t in parts), strict=True)
    tok = bp.train_from_iterator(
        [trains[0][:20_000], trains[1][:8_000], trains[2][:12_000], trains[3][:4_000]], 856,
        pattern="gpt2",
    )
    samples = {c: [a[:8_000]] for c, a in zip(["en", "el", "py", "rs"], attacks, strict=True)}
    lazy = bp.infer_mixture(tok, samples, merges=600, method="lazy")
    auction = bp.infer_mixture(tok, samples, merges=600, method="auction")
    assert lazy.status == auction.status == "Optimal"
    assert auction.bound <= lazy.objective * (1 + 1e-6) <= auction.objective * (1 + 2e-6)
    assert auction.objective == pytest.approx(lazy.objective, rel=2e-7)
    for c in samples:
        assert auction.proportions[c] == pytest.approx(lazy.proportions[c], abs=1e-3)


def test_early_stops_bracket_the_optimum() -> None:
    """gap / time_limit return a feasible point: its objective is at least the optimum, the
    lower bound at most, and the status says how far apart they may be."""
    tok, samples, obj, _ = reference_case()
    texts = {k: [v] for k, v in samples.items()}
    loose = bp.infer_mixture(tok, texts, merges=70, gap=0.5, method="lazy")
    assert loose.bound <= obj * (1 + 1e-6) + 1e-6
    assert loose.objective >= obj * (1 - 1e-6) - 1e-6
    assert loose.objective - loose.bound <= 0.5 * loose.objective + 1e-6
    assert loose.status == "Optimal" or loose.status.startswith("gap: within")
    assert abs(sum(loose.proportions.values()) - 1) < 1e-9
    hurried = bp.infer_mixture(tok, texts, merges=70, time_limit=1e-9, method="lazy")
    assert hurried.status.startswith("time limit: within"), hurried.status
    assert hurried.rounds == 0 and hurried.bound == 0.0
    assert hurried.objective >= obj * (1 - 1e-6)
    with pytest.raises(ValueError, match="gap must be >= 0"):
        bp.infer_mixture(tok, texts, merges=70, gap=-1.0)
    with pytest.raises(ValueError, match="time_limit must be positive"):
        bp.infer_mixture(tok, texts, merges=70, time_limit=0)
    with pytest.raises(ValueError, match="method must be"):
        bp.infer_mixture(tok, texts, merges=70, method="simplex")
    for fast in (
        bp.infer_mixture(tok, texts, merges=70, method="bundle", gap=0.5),
        bp.infer_mixture(tok, texts, merges=70, method="bundle", time_limit=1e-9),
        bp.infer_mixture(tok, texts, merges=70, method="auction", gap=0.5),
        bp.infer_mixture(tok, texts, merges=70, method="auction", time_limit=1e-9),
    ):
        assert fast.bound <= obj * (1 + 1e-6) + 1e-6 <= fast.objective * (1 + 2e-6) + 2e-6
        assert fast.status == "Optimal" or fast.status.startswith(("gap: within", "time limit"))
        assert abs(sum(fast.proportions.values()) - 1) < 1e-9


# ---- reporting, bootstrap, plot ------------------------------------------------------------


def test_bootstrap_intervals_and_plot(tmp_path: Path) -> None:
    train, attack = halves(en())
    g_train, g_attack = halves(greek())
    tok = bp.train_from_iterator([train, g_train[: len(g_train) // 3]], 600, pattern="gpt2")
    res = bp.infer_mixture(tok, {"en": [attack], "greek": [g_attack]}, merges=200, bootstrap=4)
    assert res.intervals is not None and len(res.replicates) == 4
    for c, (lo, hi) in res.intervals.items():
        assert 0 <= lo <= hi <= 1
        assert min(r[c] for r in res.replicates) == pytest.approx(lo, abs=0.05)
    assert res.proportions["en"] > 0.6
    assert res.timings["bootstrap"] > 0
    d = res.to_dict()
    json.dumps(d)
    assert d["sample_bytes"]["en"] == len(attack.encode())
    pytest.importorskip("matplotlib")
    out = tmp_path / "mix.png"
    res.plot(out)
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert "en" in str(res)


@pytest.mark.parametrize("method", ["lazy", "bundle", "auction"])
def test_progress_lines_on_stderr(method: str, capsys: pytest.CaptureFixture[str]) -> None:
    tok = bp.train_from_iterator([en(), greek()], 500, pattern="gpt2")
    samples = {"en": [en()], "greek": [greek()]}
    quiet = bp.infer_mixture(tok, samples, merges=150, method=method, progress=False)
    assert capsys.readouterr().err == ""
    loud = bp.infer_mixture(tok, samples, merges=150, method=method, progress=True)
    err = capsys.readouterr().err
    assert "mixture LP (" + method + ")" in err and "lower bound" in err, err
    assert loud.proportions == quiet.proportions


def test_merges_absent_from_the_samples_are_reported() -> None:
    tok = bp.train_from_iterator([en(), greek()], 500, pattern="gpt2")
    res = bp.infer_mixture(tok, {"en": [en()]}, merges=200)
    # Greek merges occur in no sample: listed, and the English sample takes everything.
    assert len(res.missing_merges) > 20
    assert res.absent["en"] >= len(res.missing_merges)
    assert res.proportions["en"] == pytest.approx(1.0)


def test_files_and_sample_bytes(tmp_path: Path) -> None:
    f = tmp_path / "en.txt"
    f.write_text(en(), encoding="utf-8")
    tok = bp.train_from_iterator([en()], 400, pattern="gpt2")
    res = bp.infer_mixture(tok, {"en": [f], "greek": [greek()]}, merges=50, sample_bytes=10_000)
    assert 9_000 < res.sample_bytes["en"] <= 10_000
    assert res.sample_bytes["greek"] <= 10_000
    res2 = bp.infer_mixture(tok, {"en": str(f), "greek": greek()[:10_000]}, merges=50)
    assert res2.sample_bytes["en"] == len(en().encode())


# ---- bad input ----------------------------------------------------------------------------


def test_bad_input_gives_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tok = bp.train_from_iterator([en()], 300, pattern="gpt2")
    with pytest.raises(ValueError, match="'b': the sample is empty"):
        bp.infer_mixture(tok, {"a": [en()], "b": [""]}, merges=10)
    with pytest.raises(ValueError, match="non-empty dict"):
        bp.infer_mixture(tok, {}, merges=10)
    with pytest.raises(ValueError, match="merges must be a positive int"):
        bp.infer_mixture(tok, {"a": [en()]}, merges=0)
    with pytest.raises(ValueError, match="feasibility tolerance"):
        bp.infer_mixture(tok, {"a": [en()]}, merges=10, tol=1e-9)
    with pytest.raises(TypeError, match="paths or str"):
        bp.infer_mixture(tok, {"a": [b"bytes"]}, merges=10)  # type: ignore[list-item]
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\xff\xfe")
    with pytest.raises(ValueError, match="invalid UTF-8"):
        bp.infer_mixture(tok, {"a": [bad]}, merges=10)
    with pytest.raises(FileNotFoundError):
        bp.infer_mixture(tmp_path / "missing.json", {"a": [en()]}, merges=10)
    monkeypatch.setitem(sys.modules, "highspy", None)
    with pytest.raises(ImportError, match=r"bytepair\[mixture\]"):
        bp.infer_mixture(tok, {"a": [en()]}, merges=10)


def test_a_merge_list_that_cannot_be_replayed_is_refused(tmp_path: Path) -> None:
    tok = bp.train_from_iterator(["abc abc abc ab ab"], 259, pattern="gpt2", min_frequency=1)
    doc = json.loads(tok.to_json())
    merges = doc["model"]["merges"]
    assert len(merges) >= 2
    # Put a merge that uses a merged token before the merge that makes it.
    parts = [m if isinstance(m, list) else m.split(" ") for m in merges]
    later = next(i for i, p in enumerate(parts) if any(len(x) > 1 for x in p))
    merges.insert(0, merges.pop(later))
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    broken = bp.Tokenizer.from_file(path)
    with pytest.raises(ValueError, match="no earlier merge produces"):
        bp.infer_mixture(broken, {"a": ["abc abc"]}, merges=10)


# ---- CLI ----------------------------------------------------------------------------------


def test_cli_json_and_plot(tmp_path: Path) -> None:
    a, b = tmp_path / "en.txt", tmp_path / "greek.txt"
    a.write_text(en(), encoding="utf-8")
    b.write_text(greek(), encoding="utf-8")
    tok = bp.train_from_iterator([en()], 400, pattern="gpt2")
    tpath = tmp_path / "tokenizer.json"
    tok.save(tpath)
    script = Path(sys.executable).parent / "bytepair"
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "bytepair"]
    png = tmp_path / "out.png"
    out = subprocess.run(
        [*cmd, "infer-mixture", "--tokenizer", str(tpath), "--category", f"en={a}",
         "--category", f"greek={b}", "--merges", "100", "--json", "--plot", str(png)],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["proportions"]["en"] > 0.95
    assert png.is_file()
    bundle = subprocess.run(
        [*cmd, "infer-mixture", "--tokenizer", str(tpath), "--category", f"en={a}",
         "--category", f"greek={b}", "--merges", "100", "--json", "--method", "bundle"],
        capture_output=True, text=True, check=False,
    )
    assert bundle.returncode == 0, bundle.stderr
    # the same LP optimum (the optimal proportions need not be unique on so small a case)
    e = json.loads(bundle.stdout)
    assert abs(e["objective"] - d["objective"]) <= 1e-6 * max(1.0, d["objective"])
    assert e["proportions"]["en"] > 0.95
    bad = subprocess.run([*cmd, "infer-mixture", "--tokenizer", str(tpath), "--category", "x"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "NAME=FILE" in bad.stderr
    missing = subprocess.run(
        [*cmd, "infer-mixture", "--tokenizer", str(tpath), "--category", f"x={tmp_path / 'no'}"],
        capture_output=True, text=True, check=False)
    assert missing.returncode == 2 and "no such file" in missing.stderr


# ---- the controlled experiment, small ------------------------------------------------------


def test_controlled_experiment_small() -> None:
    """bench/mixture.py in miniature: HF tokenizers trained on random mixtures of three
    shared-corpus languages, attacked with disjoint samples; far better than a random guess
    (log10 MSE about -1.4)."""
    tokenizers = pytest.importorskip("tokenizers")
    if not (SHARED_CORPUS / "en.txt").is_file():
        pytest.skip(f"shared corpus not found at {SHARED_CORPUS}")
    files = {"en": "en.txt", "de": "langs/de.txt", "ru": "langs/ru.txt"}
    parts = {}
    for c, f in files.items():
        with open(SHARED_CORPUS / f, encoding="utf-8") as fh:
            parts[c] = halves(fh.read(1_200_000))
    rng = np.random.default_rng(1)
    errs = []
    for _ in range(3):
        w = rng.dirichlet(np.ones(3))
        train = {c: parts[c][0].encode()[: int(w[i] * 500_000)].decode("utf-8", "ignore")
                 for i, c in enumerate(files)}
        total = sum(len(t.encode()) for t in train.values())
        truth = {c: len(t.encode()) / total for c, t in train.items()}
        hf = tokenizers.Tokenizer(tokenizers.models.BPE())
        hf.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = tokenizers.trainers.BpeTrainer(
            vocab_size=1500, show_progress=False,
            initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
        hf.train_from_iterator(list(train.values()), trainer=trainer)
        tok = bp.Tokenizer.from_json(hf.to_str())
        res = bp.infer_mixture(tok, {c: [parts[c][1][:300_000]] for c in files}, merges=800)
        errs.append(math.log10(sum((res.proportions[c] - truth[c]) ** 2 for c in files) / 3))
    assert np.mean(errs) < -3.0, errs


def test_same_answer_from_every_file_format(tmp_path: Path) -> None:
    """Merges read from tokenizer.json, and rebuilt from a tiktoken rank file, replay alike."""
    train, attack = halves(en())
    g_train, g_attack = halves(greek())
    tok = bp.train_from_iterator([train, g_train[: len(g_train) // 2]], 500, pattern="gpt2")
    tok.save(tmp_path / "t.json")
    tok.save_tiktoken(tmp_path / "t.tiktoken")
    samples = {"en": [attack], "greek": [g_attack]}
    want = bp.infer_mixture(tok, samples, merges=200).proportions
    for t in (bp.Tokenizer.from_file(tmp_path / "t.json"),
              bp.Tokenizer.from_file(tmp_path / "t.tiktoken", pattern="gpt2")):
        assert t.merges[:200] == tok.merges[:200]
        got = bp.infer_mixture(t, samples, merges=200).proportions
        assert got == pytest.approx(want, abs=1e-9)


def test_a_sample_of_only_special_tokens_is_named() -> None:
    tok = bp.train_from_iterator([en()], 300, pattern="gpt2", special_tokens=["<|eot|>"])
    with pytest.raises(ValueError, match="category 'b': the sample is empty"):
        bp.infer_mixture(tok, {"a": [en()], "b": ["<|eot|><|eot|>"]}, merges=10)
