"""Encoding benchmark: bytepair vs tiktoken, HF tokenizers, bpe-openai and tokie, in one run.

All peers load the same vocabulary: tiktoken and bytepair the rank file of ../shared/vocab; HF
tokenizers and tokie the tokenizer.json that bytepair saves from it; bpe-openai its bundled copy
of the same ranks. Every peer's ids are first compared with tiktoken's on the first MB of the
text, and the table says whether they are identical.

Workloads: one big string (en.txt, 20 MB) and a batch of paragraphs (en.txt split on blank
lines), each with one thread and with all threads. MB/s of UTF-8 input, best of --repeat rounds
(the machine may be shared: the minimum is the least disturbed run); each round times every
peer and workload once, so all cells draw from the same stretches of time. Ratio = bytepair /
peer.

    python bench/encode.py                      # cl100k_base and o200k_base, whole en.txt
    python bench/encode.py --mb 5 --repeat 2    # quicker
    python bench/encode.py --pathological       # 1/10/100 MB of one character: cost per MB
    python bench/encode.py --paired 6           # bytepair vs tiktoken alternated, CPU time
    python bench/encode.py --paired-threads 8   # 1 and all threads alternated, with controls
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bytepair

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
RANK_FILES = {
    "cl100k_base": "cl100k_base.tiktoken",
    "o200k_base": "o200k_base.tiktoken",
    "r50k_base": "gpt2.tiktoken",
}
PRESETS = {"cl100k_base": "cl100k", "o200k_base": "o200k", "r50k_base": "gpt2"}
THREADS = os.cpu_count() or 1


def tiktoken_encoding(name: str) -> Any:
    """The real tiktoken encoding, its ranks read from ../shared/vocab (offline)."""
    import tiktoken
    import tiktoken.load
    import tiktoken_ext.openai_public as op

    path = SHARED / "vocab" / RANK_FILES[name]
    orig = op.load_tiktoken_bpe
    op.load_tiktoken_bpe = lambda *a, **k: tiktoken.load.load_tiktoken_bpe(str(path))
    try:
        spec = getattr(op, name)()
    finally:
        op.load_tiktoken_bpe = orig
    return tiktoken.Encoding(**spec)


def bytepair_tokenizer(name: str, specials: dict[str, int] | None = None) -> Any:
    """bytepair's tokenizer of the rank file `name` from ../shared/vocab, with its preset
    pattern (and tiktoken's special tokens where given)."""
    path = SHARED / "vocab" / RANK_FILES[name]
    if specials is None:
        return bytepair.Tokenizer.from_tiktoken(path, PRESETS[name])
    return bytepair.Tokenizer.from_tiktoken(path, PRESETS[name], specials)


def timed(
    fn: Callable[..., Any], *args: Any, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Seconds of one call of `fn(*args)`. The result is released after the clock stops: its
    deallocation is the caller's, whenever it drops the result, not the encoder's (for a list
    of 100k lists it is ~20 ms, the same with 1 or 2 threads), and it is left out for every
    peer alike. (Up to session 9 it was inside the timed call.)"""
    t0 = clock()
    result = fn(*args)
    t = clock() - t0
    del result
    return t


def best(fn: Callable[[], Any], repeat: int) -> float:
    return min(timed(fn) for _ in range(repeat))


def peers(name: str, tmp: Path) -> dict[str, dict[str, Callable[..., Any]]]:
    """name -> {"one": encode(str) -> ids, "batch1": ..., "batchN": ..., "oneN": ...}."""
    tt = tiktoken_encoding(name)
    bp = bytepair_tokenizer(name, dict(tt._special_tokens))
    out: dict[str, dict[str, Callable[..., Any]]] = {
        "bytepair": {
            "one": bp.encode_ordinary,
            "oneN": lambda s: bp.encode(s, disallowed_special=(), num_threads=THREADS),
            "batch1": lambda xs: bp.encode_batch(xs, num_threads=1, disallowed_special=()),
            "batchN": lambda xs: bp.encode_batch(xs, num_threads=THREADS, disallowed_special=()),
            "numpyN": lambda xs: bp.encode_batch_numpy(
                xs, num_threads=THREADS, disallowed_special=()
            ),
        },
        "tiktoken": {
            "one": tt.encode_ordinary,
            "batch1": lambda xs: tt.encode_ordinary_batch(xs, num_threads=1),
            "batchN": lambda xs: tt.encode_ordinary_batch(xs, num_threads=THREADS),
        },
    }
    json_path = tmp / f"{name}.json"
    bp.save(json_path)
    try:
        import tokenizers

        hf = tokenizers.Tokenizer.from_file(str(json_path))

        def hf_batch(xs: list[str], parallel: bool) -> Any:
            os.environ["TOKENIZERS_PARALLELISM"] = "true" if parallel else "false"
            return [e.ids for e in hf.encode_batch(xs, add_special_tokens=False)]

        out["HF tokenizers"] = {
            "one": lambda s: hf.encode(s, add_special_tokens=False).ids,
            "batch1": lambda xs: hf_batch(xs, False),
            "batchN": lambda xs: hf_batch(xs, True),
        }
    except Exception as e:
        print(f"HF tokenizers: cannot load {json_path.name}: {e}", file=sys.stderr)
    try:
        import bpe_openai

        bo = bpe_openai.get_encoding(name)
        out["bpe-openai"] = {
            "one": bo.encode_ordinary,
            "batchN": bo.encode_ordinary_batch,
        }
    except Exception as e:
        print(f"bpe-openai: {e}", file=sys.stderr)
    try:
        import tokie

        tk = tokie.Tokenizer.from_json(str(json_path))
        out["tokie"] = {
            "one": lambda s: tk.encode_bytes(s.encode("utf-8")),
            "batchN": lambda xs: [e.ids for e in tk.encode_batch(xs, add_special_tokens=False)],
        }
    except Exception as e:
        print(f"tokie: cannot load {json_path.name}: {e}", file=sys.stderr)
    return out


def as_ids(x: Any) -> list[int]:
    return list(getattr(x, "ids", x))


def run(name: str, text: str, paras: list[str], repeat: int, tmp: Path) -> list[str]:
    ps = peers(name, tmp)
    mb_one = len(text.encode("utf-8")) / 1e6
    mb_batch = sum(len(p.encode("utf-8")) for p in paras) / 1e6
    check_text = text[: 1 << 20]
    want = ps["tiktoken"]["one"](check_text)
    check_paras = paras[:2000]
    want_b = ps["tiktoken"]["batch1"](check_paras)
    rows = []
    cols = [
        ("one", "1 string, 1 thread"),
        ("oneN", f"1 string, {THREADS} threads"),
        ("batch1", "paragraphs, 1 thread"),
        ("batchN", f"paragraphs, {THREADS} threads"),
        ("numpyN", f"paragraphs → numpy, {THREADS} threads"),
    ]
    results: dict[str, dict[str, float]] = {}
    same: dict[str, bool] = {}
    notes: list[str] = []
    for peer, fns in ps.items():
        ok = True
        for key, fn in list(fns.items()):
            try:
                if key.startswith("one"):
                    ok = ok and as_ids(fn(check_text)) == want
                elif key != "numpyN":
                    ok = ok and [as_ids(x) for x in fn(check_paras)] == want_b
            except Exception as e:
                notes.append(f"{peer} `{key}`: {type(e).__name__}: {e}")
                del fns[key]
        same[peer] = ok
        results[peer] = {}
    # Rounds, each timing every (peer, workload) once, best per cell over the rounds: on a shared
    # machine whose speed drifts over minutes, each cell then draws from the same time windows
    # (timing a peer's runs back to back put them in one window each, so ratios moved with the
    # load between windows).
    jobs = [(peer, key, fns[key]) for peer, fns in ps.items() for key, _ in cols if key in fns]
    times: dict[tuple[str, str], float] = {}
    for r in range(repeat):
        for peer, key, fn in jobs:
            if (peer, key) in times and times[(peer, key)] < 0:
                continue  # failed in an earlier round
            arg: Any = text if key.startswith("one") else paras
            try:
                t = timed(fn, arg)
            except Exception as e:
                notes.append(f"{peer} `{key}` on the full input: {type(e).__name__}: {e}")
                times[(peer, key)] = -1.0
                continue
            times[(peer, key)] = min(times.get((peer, key), t), t)
            mb = mb_one if key.startswith("one") else mb_batch
            print(f"  {name} round {r + 1} {peer:14s} {key:7s} {mb / t:8.1f} MB/s", file=sys.stderr)
    for (peer, key), t in times.items():
        if t > 0:
            results[peer][key] = (mb_one if key.startswith("one") else mb_batch) / t
    head = "| " + name + " | same ids as tiktoken | " + " | ".join(c for _, c in cols) + " |"
    rows.append(head)
    rows.append("|" + "---|" * (len(cols) + 2))
    ours = results["bytepair"]
    for peer, res in results.items():
        cells = []
        for key, _ in cols:
            if key not in res:
                cells.append("-")
            elif peer == "bytepair":
                cells.append(f"**{res[key]:.1f}**")
            else:
                ref = ours.get(key) or ours.get(key.replace("numpy", "batch"))
                ratio = f" ({ref / res[key]:.1f}x)" if ref else ""
                cells.append(f"{res[key]:.1f}{ratio}")
        rows.append(f"| {peer} | {'yes' if same[peer] else 'NO'} | " + " | ".join(cells) + " |")
    rows += [f"\n- {n}" for n in notes]
    return rows


def pathological(name: str, sizes: list[int]) -> list[str]:
    tt = tiktoken_encoding(name)
    bp = bytepair_tokenizer(name)
    rows = [
        f"| {name}: input | " + " | ".join(f"{s} MB" for s in sizes) + " |",
        "|" + "---|" * (len(sizes) + 1),
    ]
    for label, unit in (
        ("one letter `a`", "a"),
        ("`ab` repeated", "ab"),
        ("spaces", " "),
        ("no whitespace (en.txt without spaces and newlines)", None),
    ):
        cells = []
        for mb in sizes:
            n = mb * 1_000_000
            if unit is None:
                src = (SHARED / "corpus" / "en.txt").read_text(encoding="utf-8")
                src = src.replace(" ", "").replace("\n", "")
                text = (src * (n // len(src) + 1))[:n]
            else:
                text = unit * (n // len(unit))
            t = best(functools.partial(bp.encode_ordinary, text), 1)
            cells.append(f"{t / mb * 1000:.0f} ms/MB")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    cells = []
    for mb in sizes[:2]:
        text = "a" * (mb * 1_000_000)
        t = best(functools.partial(tt.encode_ordinary, text), 1)
        cells.append(f"{t / mb * 1000:.0f} ms/MB")
    rows.append("| tiktoken, one letter `a` | " + " | ".join(cells) + " | - |")
    return rows


def paired(name: str, text: str, rounds: int) -> list[str]:
    """bytepair and tiktoken on the one string, one thread, alternated: bytepair, tiktoken,
    bytepair in each round, CPU seconds of this process (`time.process_time`), ratio = tiktoken's
    time / the mean of the two bytepair runs around it. The host's speed drifts by up to 2x
    within minutes; a ratio of runs seconds apart, in CPU time (time the vCPU was taken away
    does not count), moves much less than a ratio of the best wall times of separate cells."""
    tt = tiktoken_encoding(name)
    bp = bytepair_tokenizer(name)
    check = text[:1_000_000]
    if bp.encode_ordinary(check) != tt.encode_ordinary(check):
        sys.exit(f"{name}: bytepair's ids differ from tiktoken's")
    mb = len(text.encode()) / 1e6

    def cpu(fn: Callable[[str], Any]) -> float:
        return timed(fn, text, clock=time.process_time)

    cpu(bp.encode_ordinary)  # (warm: the int table, the caches)
    rows = [f"| {name}, round | bytepair MB/s | tiktoken MB/s | ratio |", "|---|---|---|---|"]
    ratios = []
    for r in range(rounds):
        a = cpu(bp.encode_ordinary)
        b = cpu(tt.encode_ordinary)
        a = (a + cpu(bp.encode_ordinary)) / 2
        ratios.append(b / a)
        rows.append(f"| {r + 1} | {mb / a:.1f} | {mb / b:.1f} | {b / a:.1f}x |")
    ratios.sort()
    rows.append(
        f"| median of {rounds} | | | **{ratios[len(ratios) // 2]:.1f}x** "
        f"(range {ratios[0]:.1f}-{ratios[-1]:.1f}) |"
    )
    return rows


def host_control(threads: int, buf: bytes) -> Callable[[Any, int], Any]:
    """A pure-compute control for `paired_threads`: SHA-256 of `threads` copies of `buf`, one
    after another on the calling thread, or one on each of `threads` waiting threads at once
    (woken for each call, as bytepair's pool workers are; hashlib releases the GIL). Its
    1-thread time over its `threads`-thread time is what this machine gives more threads for
    work with no shared data and no memory traffic at that moment. On a shared VM it swings
    with the other tenants (session 13: per-round ratios 0.8x-2.6x, medians per workload
    1.4x-1.9x, within minutes)."""
    start, done = threading.Barrier(threads + 1), threading.Barrier(threads + 1)

    def work() -> None:
        hashlib.sha256(buf).digest()

    def worker() -> None:
        while True:
            start.wait()
            work()
            done.wait()

    for _ in range(threads):
        threading.Thread(target=worker, daemon=True).start()

    def run(_: Any, n: int) -> None:
        if n == 1:
            for _ in range(threads):
                work()
            return
        start.wait()
        done.wait()

    return run


class SideBySide:
    """A workload control for `paired_threads`: `threads` independent one-thread calls of the
    same workload at once, one on the calling thread and one on each of `threads - 1` kept
    helper threads (kept so their piece caches stay warm, as the pool workers' do). Its time is
    what `threads` whole calls take side by side, with no work split between threads; so
    `threads` x (one call's time) / (its time) is what the host gives this very workload on
    more threads at that moment, memory traffic, caches and all, and the split call's time
    against `side-by-side time / threads` is how much of that bytepair's own parallel split
    keeps. The clock stops when the last call returns; the results are released after it."""

    def __init__(self, threads: int) -> None:
        self.jobs: list[queue.Queue[Any]] = [queue.Queue() for _ in range(threads - 1)]
        self.done: queue.Queue[Any] = queue.Queue()
        for q in self.jobs:
            threading.Thread(target=self._serve, args=(q,), daemon=True).start()

    def _serve(self, jobs: queue.Queue[Any]) -> None:
        while True:
            fn, arg = jobs.get()
            try:
                self.done.put((fn(arg, 1), None))
            except BaseException as e:  # (handed to the timing thread, which raises it)
                self.done.put((None, e))

    def __call__(self, fn: Callable[[Any, int], Any], arg: Any) -> float:
        t0 = time.perf_counter()
        for q in self.jobs:
            q.put((fn, arg))
        results, errors = [], []
        try:
            results.append(fn(arg, 1))
        finally:  # (the helpers' calls are always waited for: none is left running)
            for _ in self.jobs:
                result, error = self.done.get()
                results.append(result)
                errors.append(error)
        t = time.perf_counter() - t0
        del results
        for e in errors:
            if e is not None:
                raise e
        return t


def paired_threads(name: str, text: str, rounds: int) -> list[str]:
    """bytepair with one thread, then with all threads, alternated, on each workload: the one
    string (`encode`), the paragraphs as lists (`encode_batch`) and as numpy (`encode_batch_numpy`);
    wall time of the call (the point is the wall time a second thread saves). Per workload: the
    median MB/s of each, and the median (range) of the per-round ratios.

    Each round also times two controls, right after the workload:
    - `SideBySide`: `THREADS` one-thread calls of the workload at once. Its ratio (`THREADS` x
      the round's one-thread time / its time) is what the host gave this workload on more
      threads at that moment; the median per-round quotient of the workload's ratio by it
      (which is `side-by-side time / (THREADS x split-call time)`) says how much of that the
      split call kept (1.00: all of it). The side-by-side calls overlap each other's serial
      parts (reading the texts, making the result), so their ratio can pass `THREADS`, and the
      split call, which cannot overlap its own, keeps a little less than 1 even when its split
      costs nothing. Not for lists of lists (see `workloads`). On one string the helper's
      fresh memory (the list's 36 MB array, the ids) comes slow on this VM (session 14): in the
      first rounds of a process the helper's call took up to 73 ms of system time, and runs of
      2-4 rounds read 1.05-1.15x; use 16 rounds or more.
    - `host_control`: pure compute (SHA-256), which touches no memory: what the host gave a
      second thread for compute alone (sessions 13-14's control). It waits 0.1 s first: right
      after a large block is freed (the workload's result), a 2-thread burst gains less on the
      VM of sessions 10-15 (the control right after `del bytearray(45_000_000)` 1.36x, 0.05 s
      later 1.94x; bench/README.md, session 13).
    Session 15 (bench/README.md) found the pure-compute control a poor guide to the encoder: a
    memory-streaming neighbour on the other vCPU slowed a one-thread encode by 21%, where an ALU
    loop did not slow it at all.
    """
    bp = bytepair_tokenizer(name)
    paras = [p for p in text.split("\n\n") if p]
    control = host_control(THREADS, os.urandom(1 << 20) * 24)
    side_by_side = SideBySide(THREADS)
    # (label, argument, call, whether `SideBySide` measures the host for it: not for lists of
    # lists, whose 100k small lists are built holding the GIL, ~20% of a one-thread call, so
    # side-by-side calls queue on it; one string's list is written with the GIL released)
    workloads: list[tuple[str, Any, Callable[[Any, int], Any], bool]] = [
        (
            "one string → list",
            text,
            lambda x, n: bp.encode(x, disallowed_special=(), num_threads=n),
            True,
        ),
        (
            "paragraphs → lists",
            paras,
            lambda x, n: bp.encode_batch(x, disallowed_special=(), num_threads=n),
            False,
        ),
        (
            "paragraphs → numpy",
            paras,
            lambda x, n: bp.encode_batch_numpy(x, disallowed_special=(), num_threads=n),
            True,
        ),
    ]
    head = (
        f"| {name}: workload | 1 thread MB/s | {THREADS} threads MB/s "
        f"| ratio, median of {rounds} rounds (range) | {THREADS} calls side by side "
        f"| ratio / side by side | pure-compute control |"
    )
    rows = [head, "|---|---|---|---|---|---|---|"]
    med = statistics.median
    for label, arg, fn, side in workloads:
        pieces = [arg] if isinstance(arg, str) else arg
        mb = sum(len(p.encode()) for p in pieces) / 1e6
        timed(fn, arg, THREADS)  # (warm: the int table, the caches, the pool)
        if side:
            side_by_side(fn, arg)  # (warm: the helpers' caches)
        ones, alls, sides, host = [], [], [], []
        for _ in range(rounds):
            ones.append(timed(fn, arg, 1))
            alls.append(timed(fn, arg, THREADS))
            if side:
                sides.append(THREADS * ones[-1] / side_by_side(fn, arg))
            time.sleep(0.1)  # (see the docstring)
            host.append(timed(control, None, 1) / timed(control, None, THREADS))
        ratios = [a / b for a, b in zip(ones, alls, strict=True)]
        if side:
            kept = med(r / h for r, h in zip(ratios, sides, strict=True))
            cells = f"{med(sides):.2f}x ({min(sides):.2f}-{max(sides):.2f}) | {kept:.2f}"
        else:
            cells = "n/a (lists built holding the GIL) | n/a"
        rows.append(
            f"| {label} | {mb / med(ones):.1f} | {mb / med(alls):.1f} | **{med(ratios):.2f}x** "
            f"({min(ratios):.2f}-{max(ratios):.2f}) | {cells} | {med(host):.2f}x "
            f"({min(host):.2f}-{max(host):.2f}) |"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--encodings", nargs="+", default=["cl100k_base", "o200k_base"])
    ap.add_argument("--mb", type=float, default=None, help="use the first MB of en.txt")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pathological", action="store_true")
    ap.add_argument(
        "--paired",
        type=int,
        metavar="ROUNDS",
        help="only bytepair vs tiktoken on the one string, alternated, CPU time (see paired())",
    )
    ap.add_argument(
        "--paired-threads",
        type=int,
        metavar="ROUNDS",
        help="only bytepair, 1 and all threads alternated, 3 workloads (see paired_threads())",
    )
    args = ap.parse_args()
    if not (SHARED / "vocab").is_dir():
        sys.exit(f"needs the rank files in {SHARED / 'vocab'}")
    if args.pathological:
        for name in args.encodings:
            print("\n".join(pathological(name, [1, 10, 100])), "\n")
        return
    text = (SHARED / "corpus" / "en.txt").read_text(encoding="utf-8")
    if args.mb:
        text = text[: int(args.mb * 1e6)]
    if args.paired:
        for name in args.encodings:
            print("\n".join(paired(name, text, args.paired)), "\n", flush=True)
        return
    if args.paired_threads:
        for name in args.encodings:
            print("\n".join(paired_threads(name, text, args.paired_threads)), "\n", flush=True)
        return
    paras = [p for p in text.split("\n\n") if p]
    print(
        f"en.txt: {len(text.encode()) / 1e6:.1f} MB, {len(paras)} paragraphs; "
        f"{THREADS} threads; MB/s, best of {args.repeat}; (x) = bytepair / peer\n"
    )
    with tempfile.TemporaryDirectory() as d:
        for name in args.encodings:
            print("\n".join(run(name, text, paras, args.repeat, Path(d))), "\n", flush=True)


if __name__ == "__main__":
    main()
