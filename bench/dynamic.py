"""Dynamic batch merging: the reference-style Python algorithm vs bytepair, and the length
reduction it buys per language.

    python bench/dynamic.py                    # both tables
    python bench/dynamic.py --markdown         # as pasted into bench/README.md
    python bench/dynamic.py --quick            # small shapes only (a smoke run)

Speed: batches of B sequences of exactly L cl100k tokens (cut from English text of the shared
corpus, pretoken boundaries as in the reference's default), merged 10, 50 and 150 times by
``tests/reference_dynamic.py`` (a port of DariusFeher/dynamic-tokenization's
``tokenizations/dynamic_bpe.py`` loop on ids: full ``Counter`` recount per merge, Python list
rewrite) and by ``bytepair.dynamic_merge`` on the same flat arrays. The reference runs once up
to the largest merge count and its CPU time is read at each merge count (the run with fewer
merges is exactly that prefix); bytepair is timed per merge count, best of several runs, CPU
time (process time) for both. Every bytepair result is checked equal to the reference's.

Reduction: for each language, batches of 32 texts cut into sequences of L tokens, the share of
tokens removed after m merges (word and pretoken boundaries), averaged over several batches;
"all" merges while any pair occurs twice, "words" merges everything mergeable (``min_count=1``:
each word, or pretoken, becomes one token).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path
from typing import Any

import bytepair
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from reference_dynamic import dynamic_merge_reference  # noqa: E402

SHARED = REPO.parent / "shared"
LANGS = ("en.txt", "langs/de.txt", "langs/fr.txt", "langs/es.txt", "langs/ru.txt",
         "langs/zh.txt", "langs/ja.txt", "langs/ko.txt", "code/python.txt")
SHAPES = ((32, 128), (128, 512), (256, 1024))
MERGES = (10, 50, 150)


def token_batch(tok: bytepair.Tokenizer, text: str, size: int, length: int, boundary: str,
                seed: int = 0) -> tuple[list[list[int]], list[list[bool]]]:
    """``size`` sequences of exactly ``length`` tokens (and their cut flags) from evenly spaced
    pieces of ``text``."""
    chars = length * 8
    step = max(1, (len(text) - chars) // size)
    start = (seed * 104729) % max(1, step - 1)
    texts = [text[start + i * step : start + i * step + chars] for i in range(size)]
    b = tok.encode_batch_dynamic(texts, merges=0, boundary=boundary)  # type: ignore[arg-type]
    seqs, cuts = [], []
    for i in range(size):
        s, e = int(b.offsets[i]), int(b.offsets[i + 1])
        e = min(e, s + length)
        seqs.append(b.ids[s:e].tolist())
        cuts.append(b.word_starts[s:e].tolist())
    return seqs, cuts


def flat(seqs: list[list[int]], cuts: list[list[bool]]) -> tuple[Any, Any, Any]:
    ids = np.array([t for s in seqs for t in s], dtype=np.uint32)
    offs = np.cumsum([0] + [len(s) for s in seqs]).astype(np.int64)
    c = np.array([x for cs in cuts for x in cs], dtype=bool)
    return ids, offs, c


def best_cpu(f: Any, min_total: float = 0.3, max_runs: int = 200) -> float:
    """Best CPU time of repeated calls (at least 3 runs, about ``min_total`` s in all)."""
    best, spent, runs = float("inf"), 0.0, 0
    while runs < 3 or (spent < min_total and runs < max_runs):
        t0 = time.process_time()
        f()
        dt = time.process_time() - t0
        best, spent, runs = min(best, dt), spent + dt, runs + 1
    return best


def bench_shape(tok: bytepair.Tokenizer, text: str, size: int, length: int,
                merges: tuple[int, ...]) -> list[dict[str, Any]]:
    vocab = tok.vocab_size
    seqs, cuts = token_batch(tok, text, size, length, "pretoken")
    ids, offs, c = flat(seqs, cuts)
    marks: dict[int, float] = {}
    snaps: dict[int, list[list[int]]] = {}
    t0 = time.process_time()

    def on_merge(k: int, batch: list[list[int]]) -> None:
        if k in merges:
            marks[k] = time.process_time() - t0
            snaps[k] = [list(s) for s in batch]

    ref = dynamic_merge_reference(seqs, cuts, vocab, merges=max(merges), on_merge=on_merge)
    ref_total = time.process_time() - t0
    rows = []
    for m in merges:
        run = functools.partial(bytepair.dynamic_merge, ids, offs, c, vocab_size=vocab, merges=m)
        got = run()
        same = [s.tolist() for s in got.sequences()] == snaps.get(m, ref.sequences)
        t_bp = best_cpu(run)
        t_ref = marks.get(m, ref_total)
        rows.append({"batch": f"{size}x{length}", "tokens": len(ids), "merges": m,
                     "done": got.num_merges, "reference_s": t_ref, "bytepair_s": t_bp,
                     "speedup": t_ref / t_bp, "equal": same, "reduction": got.reduction})
        print(f"  {size}x{length} m={m}: reference {t_ref:.3f} s, bytepair "
              f"{t_bp * 1e3:.3f} ms, {t_ref / t_bp:,.0f}x, equal={same}", file=sys.stderr)
    return rows


def bench_speed(tok: bytepair.Tokenizer, shapes: tuple[tuple[int, int], ...],
                merges: tuple[int, ...]) -> list[dict[str, Any]]:
    text = (SHARED / "corpus" / "en.txt").read_text(encoding="utf-8")
    return [r for size, length in shapes for r in bench_shape(tok, text, size, length, merges)]


def bench_reduction(tok: bytepair.Tokenizer, length: int, batches: int,
                    merges: tuple[int, ...]) -> list[dict[str, Any]]:
    rows = []
    for name in LANGS:
        path = SHARED / "corpus" / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        for boundary in ("word", "pretoken"):
            acc: dict[str, list[float]] = {}
            for seed in range(batches):
                seqs, cuts = token_batch(tok, text, 32, length, boundary, seed=seed)
                ids, offs, c = flat(seqs, cuts)
                for m in merges:
                    r = bytepair.dynamic_merge(ids, offs, c, vocab_size=tok.vocab_size, merges=m)
                    acc.setdefault(str(m), []).append(r.reduction)
                r = bytepair.dynamic_merge(ids, offs, c, vocab_size=tok.vocab_size,
                                           target_reduction=1.0)
                acc.setdefault("all", []).append(r.reduction)
                acc.setdefault("all_merges", []).append(r.num_merges)
                r = bytepair.dynamic_merge(ids, offs, c, vocab_size=tok.vocab_size,
                                           target_reduction=1.0, min_count=1)
                acc.setdefault("words", []).append(r.reduction)
            rows.append({"corpus": name.split("/")[-1].removesuffix(".txt"),
                         "boundary": boundary,
                         **{k: float(np.mean(v)) for k, v in acc.items()}})
            print(f"  {rows[-1]}", file=sys.stderr)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--quick", action="store_true", help="32x128 only, one batch per language")
    ap.add_argument("--length", type=int, default=256, help="tokens per sequence (reduction)")
    ap.add_argument("--batches", type=int, default=4, help="batches per language (reduction)")
    args = ap.parse_args()
    vocab = SHARED / "vocab" / "cl100k_base.tiktoken"
    if not vocab.is_file():
        sys.exit(f"needs the shared corpus and vocabularies at {SHARED}")
    tok = bytepair.Tokenizer.from_tiktoken(vocab, "cl100k_base", special_tokens="default")
    shapes = SHAPES[:1] if args.quick else SHAPES
    speed = bench_speed(tok, shapes, MERGES)
    red_merges = (10, 50, 150, 300)
    red = bench_reduction(tok, args.length, 1 if args.quick else args.batches, red_merges)

    print("\nSpeed (CPU seconds; cl100k, pretoken boundaries, English)\n")
    if args.markdown:
        print("| batch | tokens | merges | reference s | bytepair ms | speedup | equal | "
              "reduction |")
        print("|---|--:|--:|--:|--:|--:|---|--:|")
    for r in speed:
        done = str(r["merges"]) if r["done"] == r["merges"] else f"{r['merges']} ({r['done']})"
        cells = [r["batch"], str(r["tokens"]), done, f"{r['reference_s']:.3f}",
                 f"{r['bytepair_s'] * 1e3:.3f}", f"{r['speedup']:,.0f}x",
                 "yes" if r["equal"] else "NO", f"{r['reduction']:.1%}"]
        print("| " + " | ".join(cells) + " |" if args.markdown else "  ".join(cells))
    print(f"\nReduction (share of tokens removed; 32 x {args.length} cl100k tokens, mean of "
          f"{1 if args.quick else args.batches} batches)\n")
    keys = [str(m) for m in red_merges] + ["all", "words"]
    if args.markdown:
        print("| corpus | boundary | " + " | ".join(
            f"{k} merges" if k.isdigit() else k for k in keys) + " | merges for 'all' |")
        print("|---|---|" + "--:|" * (len(keys) + 1))
    for r in red:
        cells = [r["corpus"], r["boundary"], *(f"{r[k]:.1%}" for k in keys),
                 f"{r['all_merges']:.0f}"]
        print("| " + " | ".join(cells) + " |" if args.markdown else "  ".join(cells))


if __name__ == "__main__":
    main()
