"""Data-mixture inference accuracy: the controlled experiment of Hayase et al. (arXiv 2407.16607).

For each of N random mixtures (weights uniform on the simplex) of five categories of the shared
corpus, train a byte-level BPE tokenizer with HF ``tokenizers`` (an independent implementation)
on the mixture, then attack it with ``bytepair.infer_mixture`` using samples of the same
categories that are disjoint from the training text. Each category is split by shuffling its
blank-line separated paragraphs (long ones cut at line ends into ~4 KB documents) with a fixed
seed and alternating them (training / attacker), so both halves come from the same distribution
(../shared/corpus/README.md). Reports log10 MSE of the proportions, mean +- std over the
mixtures, against the random-guess baseline (a random point of the simplex), then accuracy
against the attacker's sample size and the number of merges.

    python bench/mixture.py                      # both sets, 20 mixtures, sweeps
    python bench/mixture.py --sets langs --mixtures 5 --no-sweeps   # quick look
    python bench/mixture.py --speed              # 10 categories x 30k merges, all the data

``--speed``: the speed target's attack, the ten categories of both sets with every byte the
corpus has (en.txt 20 MB, 3 MB each for the others), on cl100k_base (../shared/vocab) and on a
tokenizer trained (by bytepair, cl100k pattern) on a known mixture of the ten categories'
training halves and attacked with their attacker halves (so the error is visible too); then
how time grows with categories and sample size (cl100k_base, ``--scaling-merges``). Reports
CPU seconds (the process's user + system time) of counting, separation and LP solving.

Training text larger than a category's training half is taken cyclically (the half repeats),
which keeps its distribution; the attacker never sees training paragraphs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bytepair
import numpy as np
from bytepair.mixture import load_samples

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
CORPUS = SHARED / "corpus"
SETS = {
    "langs": {
        "en": "en.txt",
        "de": "langs/de.txt",
        "fr": "langs/fr.txt",
        "es": "langs/es.txt",
        "ru": "langs/ru.txt",
    },
    "code": {
        "python": "code/python.txt",
        "rust": "code/rust.txt",
        "c": "code/c.txt",
        "javascript": "code/javascript.txt",
        "go": "code/go.txt",
    },
}
MB = 1_000_000
#: Paragraphs longer than this are cut at line ends (see `documents`).
DOC_BYTES = 4096


def documents(text: str, limit: int = DOC_BYTES) -> list[str]:
    """Blank-line separated paragraphs, each cut at line ends into pieces of at most about
    ``limit`` characters, and a line longer than that into ``limit``-character pieces.
    code/javascript.txt holds one 1.9 MB paragraph (whole, it would put a third of the category
    on one side of the split) and two 65 KB lines of base64 (a WebAssembly module): whole, each
    put 4% of unusual text on one side, which skewed the JavaScript estimates (see
    bench/README.md)."""
    out: list[str] = []
    for p in text.split("\n\n"):
        if not p.strip():
            continue
        p += "\n\n"
        if len(p) <= limit:
            out.append(p)
            continue
        piece: list[str] = []
        size = 0
        for line in p.splitlines(keepends=True):
            if len(line) > limit:
                if piece:
                    out.append("".join(piece))
                    piece, size = [], 0
                out.extend(line[i : i + limit] for i in range(0, len(line), limit))
                continue
            piece.append(line)
            size += len(line)
            if size >= limit:
                out.append("".join(piece))
                piece, size = [], 0
        if piece:
            out.append("".join(piece))
    return out


def split_category(path: Path, seed: int, cap: int = 8 * MB) -> tuple[list[str], list[str]]:
    """(training documents, attacker documents): shuffled with a fixed seed, alternated.
    At most ``cap`` bytes go to each side (en.txt is 20 MB)."""
    paras = documents(path.read_text(encoding="utf-8"))
    random.Random(seed).shuffle(paras)
    train, attack = paras[0::2], paras[1::2]
    return head(train, cap), head(attack, cap)


def head(paras: list[str], nbytes: int) -> list[str]:
    """The first paragraphs, up to ``nbytes`` bytes (no repetition)."""
    out: list[str] = []
    total = 0
    for p in paras:
        if total >= nbytes:
            break
        out.append(p)
        total += len(p.encode("utf-8"))
    return out


def take(paras: list[str], nbytes: int, start: int = 0) -> list[str]:
    """Paragraphs from ``start`` on (cyclically) until ``nbytes`` bytes are reached."""
    out: list[str] = []
    total = 0
    i = start
    while total < nbytes and paras:
        p = paras[i % len(paras)]
        out.append(p)
        total += len(p.encode("utf-8"))
        i += 1
    return out


def nbytes(paras: list[str]) -> int:
    return sum(len(p.encode("utf-8")) for p in paras)


def train_hf(docs: list[str], vocab_size: int, folder: str) -> bytepair.Tokenizer:
    """A byte-level BPE tokenizer trained by HF tokenizers (GPT-2 pretokenizer, all 256 bytes
    in the alphabet so bytepair can load it)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(docs, trainer=trainer)
    path = os.path.join(folder, "tokenizer.json")
    tok.save(path)
    return bytepair.Tokenizer.from_file(path)


def log_mse(truth: dict[str, float], pred: dict[str, float]) -> float:
    m = sum((pred[c] - truth[c]) ** 2 for c in truth) / len(truth)
    return math.log10(max(m, 1e-12))


def random_guess(truth: dict[str, float], rng: np.random.Generator, draws: int = 200) -> float:
    """log10 of the expected MSE of a uniformly random point of the simplex."""
    cats = list(truth)
    guesses = rng.dirichlet(np.ones(len(cats)), size=draws)
    t = np.array([truth[c] for c in cats])
    return math.log10(float(((guesses - t) ** 2).mean()))


def mean_std(xs: list[float]) -> str:
    if len(xs) < 2:
        return f"{xs[0]:.2f}" if xs else "n/a"
    return f"{statistics.mean(xs):.2f} ± {statistics.stdev(xs):.2f}"


def run_set(name: str, args: argparse.Namespace) -> dict[str, Any]:
    cats = SETS[name]
    rng = np.random.default_rng(args.seed)
    halves = {
        c: split_category(CORPUS / f, seed=args.seed + i) for i, (c, f) in enumerate(cats.items())
    }
    avail = {c: nbytes(h[1]) for c, h in halves.items()}
    print(
        f"\n== {name}: {', '.join(cats)}; attacker halves "
        + ", ".join(f"{c} {avail[c] / MB:.2f} MB" for c in cats),
        flush=True,
    )
    sizes = [s for s in args.sizes if s * MB <= max(avail.values())]
    main_size = args.attack_mb
    merge_counts = [m for m in args.merge_sweep if m <= args.vocab - 256]
    rows: list[dict[str, Any]] = []
    t_train = t_attack = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for j in range(args.mixtures):
            w = rng.dirichlet(np.ones(len(cats)))
            docs: list[str] = []
            used: dict[str, int] = {}
            for (c, (train, _)), wc in zip(halves.items(), w, strict=True):
                start = int(rng.integers(len(train)))
                part = take(train, int(wc * args.train_mb * MB), start=start)
                used[c] = nbytes(part)
                docs.extend(part)
            total = sum(used.values())
            truth = {c: used[c] / total for c in cats}
            random.Random(j).shuffle(docs)
            t0 = time.perf_counter()
            tok = train_hf(docs, args.vocab, tmp)
            t_train += time.perf_counter() - t0

            def attack(
                size_mb: float, merges: int, tok: Any = tok, truth: Any = truth
            ) -> tuple[float, Any]:
                samples = {c: head(halves[c][1], int(size_mb * MB)) for c in cats}
                res = bytepair.infer_mixture(
                    tok, samples, merges=merges, method=args.method, num_threads=args.threads
                )
                return log_mse(truth, res.proportions), res

            t0 = time.perf_counter()
            main, res = attack(main_size, args.merges)
            t_attack += time.perf_counter() - t0
            row: dict[str, Any] = {
                "truth": truth,
                "pred": res.proportions,
                "log_mse": main,
                "random": random_guess(truth, rng),
                "rounds": res.rounds,
                "constraints": res.constraints,
                "timings": res.timings,
                "by_size": {},
                "by_merges": {},
            }
            if args.sweeps:
                for s in sizes:
                    row["by_size"][s] = main if s == main_size else attack(s, args.merges)[0]
                for m in merge_counts:
                    row["by_merges"][m] = main if m == args.merges else attack(main_size, m)[0]
            rows.append(row)
            print(
                f"  mixture {j:2d}: log10 MSE {main:6.2f} (random {row['random']:5.2f}); "
                f"{res.rounds} rounds, {res.constraints} rows, "
                f"count {res.timings['count']:.2f}s separate {res.timings['separate']:.2f}s "
                f"solve {res.timings['solve']:.2f}s",
                flush=True,
            )
    out: dict[str, Any] = {
        "set": name,
        "log_mse": mean_std([r["log_mse"] for r in rows]),
        "random": mean_std([r["random"] for r in rows]),
        "by_size": {
            s: mean_std([r["by_size"][s] for r in rows]) for s in (sizes if args.sweeps else [])
        },
        "by_merges": {
            m: mean_std([r["by_merges"][m] for r in rows])
            for m in (merge_counts if args.sweeps else [])
        },
        "seconds_train_hf": t_train,
        "seconds_attack": t_attack,
        "rows": rows,
    }
    print(f"  {name}: log10 MSE {out['log_mse']}  (random guess {out['random']})")
    for s, v in out["by_size"].items():
        print(f"    attacker sample {s:>4} MB/category: {v}")
    for m, v in out["by_merges"].items():
        print(f"    first {m:>5} merges: {v}")
    print(f"  time: HF training {t_train:.1f}s, main attacks {t_attack:.1f}s")
    return out


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed_attack(
    tok: bytepair.Tokenizer, samples: dict[str, Any], merges: int, args: argparse.Namespace
) -> dict[str, Any]:
    """One attack with CPU time and the phases' wall-clock times."""
    c0, w0 = cpu_seconds(), time.perf_counter()
    res = bytepair.infer_mixture(
        tok, samples, merges=merges, gap=args.gap, time_limit=args.time_limit,
        method=args.method, num_threads=args.threads,
    )
    t = res.timings
    return {
        "cpu": cpu_seconds() - c0,
        "wall": time.perf_counter() - w0,
        "count": t["count"],
        "separate": t["separate"],
        "solve": t["solve"],
        "rounds": res.rounds,
        "rows": res.constraints,
        "pair_slacks": res.pair_slacks,
        "status": res.status,
        "objective": res.objective,
        "bound": res.bound,
        "bytes": sum(res.sample_bytes.values()),
        "proportions": res.proportions,
    }


def show(label: str, r: dict[str, Any]) -> None:
    print(
        f"  {label}: {r['bytes'] / MB:.1f} MB; CPU {r['cpu']:.1f}s (wall {r['wall']:.1f}s: count "
        f"{r['count']:.1f}s, separate {r['separate']:.1f}s, LP {r['solve']:.1f}s); "
        f"{r['rounds']} rounds, {r['rows']} rows, {r['pair_slacks']} pair slacks; {r['status']}",
        flush=True,
    )


def run_speed(args: argparse.Namespace) -> dict[str, Any]:
    cats = {**SETS["langs"], **SETS["code"]}
    out: dict[str, Any] = {}
    vocab = SHARED / "vocab" / "cl100k_base.tiktoken"
    cl100k = bytepair.Tokenizer.from_file(vocab, pattern="cl100k_base")
    full = {c: [CORPUS / f] for c, f in cats.items()}
    print(
        f"\n== speed: {len(cats)} categories x {args.speed_merges} merges, gap {args.gap:g}, "
        f"time limit {args.time_limit}",
        flush=True,
    )
    r = timed_attack(cl100k, full, args.speed_merges, args)
    show("cl100k_base, all the data", r)
    print("    " + ", ".join(f"{c} {p:.3f}" for c, p in r["proportions"].items()))
    out["cl100k_base"] = r

    # A tokenizer trained on a known mixture of the ten categories (training halves).
    rng = np.random.default_rng(args.seed)
    halves = {
        c: split_category(CORPUS / f, seed=args.seed + i, cap=20 * MB)
        for i, (c, f) in enumerate(cats.items())
    }
    w = rng.dirichlet(np.ones(len(cats)))
    docs: list[str] = []
    used: dict[str, int] = {}
    for (c, (train, _)), wc in zip(halves.items(), w, strict=True):
        part = take(train, int(wc * args.speed_train_mb * MB), start=int(rng.integers(len(train))))
        used[c] = nbytes(part)
        docs.extend(part)
    truth = {c: used[c] / sum(used.values()) for c in cats}
    random.Random(args.seed).shuffle(docs)
    t0 = time.perf_counter()
    known = bytepair.train_from_iterator(
        docs, 256 + args.speed_merges, pattern="cl100k", min_frequency=2
    )
    t_train = time.perf_counter() - t0
    attack_samples = {c: halves[c][1] for c in cats}
    r = timed_attack(known, attack_samples, args.speed_merges, args)
    r["log_mse"] = log_mse(truth, r["proportions"])
    r["truth"] = truth
    show(f"known mixture ({args.speed_train_mb:g} MB, trained in {t_train:.0f}s)", r)
    print(f"    log10 MSE {r['log_mse']:.2f} (random guess {random_guess(truth, rng):.2f})")
    out["known_mixture"] = r

    # How time grows with categories and with sample size (cl100k_base, solved exactly).
    if not args.sweeps:
        return out
    exact = argparse.Namespace(**{**vars(args), "time_limit": None, "gap": 0.0})
    m = args.scaling_merges
    names = list(cats)
    order = [names[i] for i in (0, 5, 1, 6, 2, 7, 3, 8, 4, 9)]  # languages and code alternate
    out["scaling"] = []
    print(f"  scaling (cl100k_base, {m} merges):", flush=True)
    for k, mb in [(2, 1.0), (5, 1.0), (10, 1.0), (10, 0.3), (10, 3.0)]:
        sub = {c: [str(CORPUS / cats[c])] for c in order[:k]}
        r = timed_attack_capped(cl100k, sub, m, int(mb * MB), exact)
        r["categories"], r["mb"] = k, mb
        show(f"{k:2d} categories x {mb:g} MB", r)
        out["scaling"].append(r)
    return out


def timed_attack_capped(
    tok: bytepair.Tokenizer, samples: dict[str, Any], merges: int, cap: int, args: Any
) -> dict[str, Any]:
    texts = load_samples(samples, cap)
    return timed_attack(tok, texts, merges, args)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sets", nargs="+", default=["langs", "code"], choices=sorted(SETS))
    ap.add_argument("--mixtures", type=int, default=20)
    ap.add_argument("--train-mb", type=float, default=4.0, help="training mixture size (MB)")
    ap.add_argument("--attack-mb", type=float, default=1.5, help="attacker sample per category")
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--merges", type=int, default=2000)
    ap.add_argument("--sizes", type=float, nargs="+", default=[0.1, 0.3, 1.0, 1.5])
    ap.add_argument(
        "--merge-sweep", type=int, nargs="+", default=[250, 500, 1000, 2000, 4000, 7700]
    )
    ap.add_argument(
        "--no-sweeps", dest="sweeps", action="store_false",
        help="skip the sample-size and merge sweeps (with --speed: the scaling table)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write all figures to this JSON file")
    ap.add_argument("--speed", action="store_true", help="run the speed benchmark instead")
    ap.add_argument("--speed-merges", type=int, default=30_000)
    ap.add_argument("--speed-train-mb", type=float, default=20.0)
    ap.add_argument("--scaling-merges", type=int, default=2000)
    ap.add_argument("--gap", type=float, default=0.0, help="infer_mixture(gap=...)")
    ap.add_argument("--time-limit", type=float, default=None, help="infer_mixture(time_limit=)")
    ap.add_argument(
        "--method", default="auction", choices=["lazy", "bundle", "auction"],
        help="infer_mixture(method=)",
    )
    ap.add_argument(
        "--threads", type=int, default=None,
        help="infer_mixture(num_threads=): counting and separation passes (default all cores)",
    )
    args = ap.parse_args()
    if not (CORPUS / "en.txt").is_file():
        print(f"shared corpus not found at {CORPUS}", file=sys.stderr)
        return 1
    if not args.speed:
        print(
            f"bytepair {bytepair.__version__}: {args.mixtures} mixtures, HF tokenizers vocab "
            f"{args.vocab} on {args.train_mb} MB, attacker {args.attack_mb} MB/category, "
            f"first {args.merges} merges"
        )
    if args.speed:
        results: list[Any] = [run_speed(args)]
    else:
        results = [run_set(s, args) for s in args.sets]
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1, default=str)
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
