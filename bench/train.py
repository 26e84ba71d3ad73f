#!/usr/bin/env python3
"""Training benchmark: bytepair against HF `tokenizers`, `rustbpe` and `bpeasy`.

Every trainer learns a byte-level BPE vocabulary from the same text with the same split
pattern. Each trial runs in its own child process (`python bench/train.py --worker NAME ...`)
so that the child's peak RSS (VmHWM) belongs to that trainer alone. The child times only
the training call, then encodes a held-out slice of the corpus with the trained tokenizer
(bytes/token) and prints one JSON line on stdout.

    python bench/train.py                  # everything: en + all, 32k + 64k, 4 trainers
    python bench/train.py --corpus en --vocab 32000 --trainers hf,rustbpe,bpeasy
    python bench/train.py --repeat 3 --markdown   # table for bench/README.md

See bench/README.md for what each trainer receives and the latest numbers.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS_DIR = SHARED / "corpus"

TRAINERS = ("bytepair", "hf", "rustbpe", "bpeasy")
PACKAGES = {"bytepair": "bytepair", "hf": "tokenizers", "rustbpe": "rustbpe", "bpeasy": "bpeasy"}

# The split patterns exactly as tiktoken writes them (bytepair takes the preset name instead).
PATTERNS: dict[str, str] = {
    "o200k": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
    "cl100k": "|".join(
        [
            r"""'(?i:[sdmt]|ll|ve|re)""",
            r"""[^\r\n\p{L}\p{N}]?+\p{L}++""",
            r"""\p{N}{1,3}+""",
            r""" ?[^\s\p{L}\p{N}]++[\r\n]*+""",
            r"""\s++$""",
            r"""\s*[\r\n]""",
            r"""\s+(?!\S)""",
            r"""\s""",
        ]
    ),
    "gpt2": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
}


def peer_pattern(trainer: str, preset: str) -> tuple[str, str]:
    """The regex a peer gets for `preset`, and a note if it is not tiktoken's exact string.

    HF tokenizers compiles regexes with Oniguruma (Ruby syntax), where `{1,3}+` is not a
    possessive interval but an interval repeated one or more times: cl100k's `\\p{N}{1,3}+`
    would keep whole digit runs together. The non-possessive `\\p{N}{1,3}` splits the same way
    as tiktoken (checked on every file of the shared corpus). fancy-regex (rustbpe, bpeasy)
    takes the exact strings.
    """
    pat = PATTERNS[preset]
    if trainer == "hf" and "{1,3}+" in pat:
        note = "{1,3}+ -> {1,3} (Oniguruma has no possessive interval)"
        return pat.replace("{1,3}+", "{1,3}"), note
    return pat, ""


# A line start whose first character is neither whitespace nor "/" is a pretoken boundary under
# the o200k and cl100k patterns: no alternative matches across "\n" followed by such a character
# (only the punctuation alternative's trailing `[\r\n/]*` reaches past a newline, and only into
# "/" or more newlines). Cutting the text there gives the same pretokens as scanning it whole.
SAFE_CUT = re.compile(r"\n(?=[^\s/])")


def cut_points(text: str, size: int) -> list[int]:
    """Positions cutting `text` into pieces of about `size` characters, at SAFE_CUT only."""
    cuts = [0]
    while cuts[-1] < len(text):
        m = SAFE_CUT.search(text, cuts[-1] + size)
        cuts.append(m.end() if m else len(text))
    return cuts


def chunk_text(text: str, size: int) -> list[str]:
    """`text` as a list of chunks of about `size` characters cut at pretoken boundaries."""
    cuts = cut_points(text, size)
    return [text[a:b] for a, b in pairwise(cuts) if b > a]


# ------------------------------------------------------------------------------------------------
# corpus preparation (parent)
# ------------------------------------------------------------------------------------------------


def corpus_files(name: str) -> list[Path]:
    """The files of corpus `name`: "en" is en.txt; "all" is en.txt, code/*, langs/* in order."""
    files = [CORPUS_DIR / "en.txt"]
    if name == "all":
        files += sorted((CORPUS_DIR / "code").glob("*.txt"))
        files += sorted((CORPUS_DIR / "langs").glob("*.txt"))
    return files


def load_corpus(name: str) -> str:
    parts = []
    for path in corpus_files(name):
        text = path.read_text(encoding="utf-8")
        parts.append(text if text.endswith("\n") else text + "\n")
    return "".join(parts)


def split_holdout(text: str, eval_bytes: int, pieces: int = 64) -> tuple[str, str]:
    """Cut `pieces` evenly spaced pieces (about `eval_bytes` UTF-8 bytes in all) out of `text`.

    Returns (training text without the pieces, the pieces joined). With eval_bytes <= 0 nothing
    is held out: the training text is the whole text and the evaluation text is 1 MB of evenly
    spaced pieces of it.
    """
    in_sample = eval_bytes <= 0
    target = 1_000_000 if in_sample else eval_bytes
    chars_per_byte = len(text) / max(1, len(text.encode("utf-8")))
    piece = max(1, int(target * chars_per_byte / pieces))
    spans: list[tuple[int, int]] = []
    for k in range(pieces):
        m = SAFE_CUT.search(text, k * len(text) // pieces)
        start = m.end() if m else len(text)
        # the last boundary before start + piece, else the first one after it
        ends = [m.end() for m in SAFE_CUT.finditer(text, start, start + piece)]
        m = SAFE_CUT.search(text, start + piece)
        end = ends[-1] if ends else (m.end() if m else len(text))
        if spans and start < spans[-1][1]:
            continue
        spans.append((start, end))
    held = "".join(text[a:b] for a, b in spans)
    if in_sample:
        return text, held
    train, pos = [], 0
    for a, b in spans:
        train.append(text[pos:a])
        pos = b
    train.append(text[pos:])
    return "".join(train), held


# ------------------------------------------------------------------------------------------------
# worker (child process): one training run
# ------------------------------------------------------------------------------------------------


class Meter:
    """Wall time, CPU time (all threads) and memory around the training call."""

    def __init__(self) -> None:
        self.rss_before_kib = rss_kib()  # interpreter, imports, input held in Python
        self.cpu_s = cpu_seconds()
        self.wall_s = time.perf_counter()
        self.peak_rss_kib = 0

    def stop(self) -> None:
        self.wall_s = time.perf_counter() - self.wall_s
        self.cpu_s = cpu_seconds() - self.cpu_s
        self.peak_rss_kib = peak_kib()


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


@dataclass
class Trained:
    """What a trainer adapter hands back to the worker."""

    meter: Meter  # around the training call only
    tokens: list[bytes]  # the vocabulary (without special tokens) in id order
    count_tokens: Callable[[list[str]], int]  # encodes the evaluation chunks -> number of tokens
    pattern: str  # the regex the trainer actually used
    fed: str  # what the trainer received
    prep_s: float = 0.0  # building the Python input (read + chunk the file); not in wall_s
    extra: dict[str, Any] = field(default_factory=dict)


def proc_status_kib(key: str) -> int:
    """A memory field of /proc/self/status in KiB (0 if unavailable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib() -> int:
    return proc_status_kib("VmRSS")


def peak_kib() -> int:
    """Peak RSS of this process's own address space (VmHWM).

    Not ru_maxrss: Linux carries ru_maxrss across execve and subprocess starts the child with
    vfork, so a child's ru_maxrss starts at the parent's peak (~200 MiB here, from holding the
    corpus), which hides the trainer's own peak.
    """
    return proc_status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@dataclass
class Job:
    """One training run, as the worker's command line describes it."""

    path: Path  # the training text (UTF-8)
    vocab: int
    preset: str  # key of PATTERNS
    threads: int | None
    chunk_chars: int  # size of the chunks fed to iterator APIs
    hf_input: str  # "file" (HF reads the file line by line) or "chunks" (the same chunks as peers)


def read_chunks(job: Job) -> tuple[list[str], float]:
    """The training text as chunks cut at pretoken boundaries, and the seconds that took."""
    t0 = time.perf_counter()
    chunks = chunk_text(job.path.read_text(encoding="utf-8"), job.chunk_chars)
    return chunks, time.perf_counter() - t0


def by_id(vocab: dict[T, int]) -> list[T]:
    """The tokens of `vocab` in id order (for learned tokens: the order they were learned)."""
    return [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]


def chunks_fed(job: Job, chunks: list[str]) -> str:
    return f"an iterator over {len(chunks)} chunks of ~{job.chunk_chars // 1024} KiB"


def train_bytepair(job: Job) -> Trained:
    import bytepair

    meter = Meter()
    tok = bytepair.train(
        [str(job.path)],
        vocab_size=job.vocab,
        pattern=job.preset,
        num_threads=job.threads,
        progress=False,
    )
    meter.stop()

    def count(chunks: list[str]) -> int:
        return sum(len(ids) for ids in tok.encode_batch(chunks))

    stats = tok.train_stats or {}
    extra = {k: stats[k] for k in ("seconds_count", "seconds_merge", "distinct_pretokens")}
    # the native module's mtime tells which build was measured (the crate is under development)
    core = Path(bytepair._core.__file__)
    extra["build"] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(core.stat().st_mtime))
    tokens = by_id(tok.get_vocab())
    return Trained(meter, tokens, count, tok.pattern or "", "the file path", extra=extra)


def gpt2_byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's byte -> printable character table used by HF's ByteLevel."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("\u00a1"), ord("\u00ac") + 1),
        *range(ord("\u00ae"), ord("\u00ff") + 1),
    ]
    table = {b: chr(b) for b in printable}
    n = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return {c: b for b, c in table.items()}


def train_hf(job: Job) -> Trained:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    pattern, _ = peer_pattern("hf", job.preset)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=job.vocab,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    prep, chunks = 0.0, list[str]()
    if job.hf_input == "chunks":
        chunks, prep = read_chunks(job)
    meter = Meter()
    if job.hf_input == "chunks":
        tok.train_from_iterator(chunks, trainer)
    else:
        tok.train([str(job.path)], trainer)
    meter.stop()

    decoder = gpt2_byte_decoder()
    tokens = [bytes(decoder[c] for c in s) for s in by_id(tok.get_vocab())]

    def count(eval_chunks: list[str]) -> int:
        return sum(len(e.ids) for e in tok.encode_batch(eval_chunks, add_special_tokens=False))

    fed = chunks_fed(job, chunks) if chunks else "the file path (HF reads it line by line)"
    return Trained(meter, tokens, count, pattern, fed, prep_s=prep)


def train_rustbpe(job: Job) -> Trained:
    import rustbpe

    pattern, _ = peer_pattern("rustbpe", job.preset)
    chunks, prep = read_chunks(job)
    tok = rustbpe.Tokenizer()
    meter = Meter()
    tok.train_from_iterator(iter(chunks), job.vocab, pattern=pattern)
    meter.stop()
    tokens = by_id(dict(tok.get_mergeable_ranks()))

    def count(eval_chunks: list[str]) -> int:
        return sum(len(ids) for ids in tok.batch_encode(eval_chunks))

    fed = chunks_fed(job, chunks)
    return Trained(meter, tokens, count, tok.get_pattern(), fed, prep_s=prep)


def train_bpeasy(job: Job) -> Trained:
    import bpeasy

    pattern, _ = peer_pattern("bpeasy", job.preset)
    chunks, prep = read_chunks(job)
    meter = Meter()
    # bpeasy requires a max token length (it keeps tokens shorter than it); this large value
    # means no limit, like bytepair's default.
    ranks = bpeasy.train_bpe(iter(chunks), pattern, 1 << 20, job.vocab, batch_size=1000)
    meter.stop()

    def count(eval_chunks: list[str]) -> int:
        # bpeasy has no encoder of its own; its BPEasyTokenizer wraps tiktoken the same way.
        import tiktoken

        enc = tiktoken.Encoding(
            "bpeasy-bench", pat_str=pattern, mergeable_ranks=ranks, special_tokens={}
        )
        return sum(len(ids) for ids in enc.encode_ordinary_batch(eval_chunks))

    fed = chunks_fed(job, chunks)
    extra = {"max_rank": max(ranks.values()) if ranks else -1}
    return Trained(meter, by_id(ranks), count, pattern, fed, prep_s=prep, extra=extra)


ADAPTERS: dict[str, Callable[[Job], Trained]] = {
    "bytepair": train_bytepair,
    "hf": train_hf,
    "rustbpe": train_rustbpe,
    "bpeasy": train_bpeasy,
}


def run_worker(args: argparse.Namespace) -> int:
    """Train once, evaluate, print one JSON line on the real stdout."""
    # Peers print progress on stdout from Rust (bpeasy does): keep the real stdout for the JSON.
    sys.stdout.flush()
    result_fd = os.dup(1)
    os.dup2(2, 1)
    job = Job(
        Path(args.train_file),
        args.vocab[0],
        args.pattern,
        args.threads,
        args.chunk_kb * 1024,
        args.hf_input,
    )
    trained = ADAPTERS[args.worker](job)
    eval_text = Path(args.eval_file).read_text(encoding="utf-8")
    eval_chunks = chunk_text(eval_text, 16 * 1024)
    t0 = time.perf_counter()
    n_tokens: int | None = None
    encode_error = ""
    try:
        n_tokens = trained.count_tokens(eval_chunks)
    except Exception as exc:  # a tokenizer that cannot encode gets n/a, not a failed trial
        encode_error = f"{type(exc).__name__}: {exc}"[:200]
        print(f"{args.worker}: encoding failed: {encode_error}", file=sys.stderr)
    encode_s = time.perf_counter() - t0
    if args.vocab_out:
        Path(args.vocab_out).write_text("".join(t.hex() + "\n" for t in trained.tokens))
    eval_bytes = len(eval_text.encode("utf-8"))
    result = {
        "trainer": args.worker,
        "wall_s": trained.meter.wall_s,
        "cpu_s": trained.meter.cpu_s,
        "prep_s": trained.prep_s,
        "peak_rss_mib": trained.meter.peak_rss_kib / 1024,
        "rss_before_mib": trained.meter.rss_before_kib / 1024,
        "vocab_size": len(trained.tokens),
        "distinct_tokens": len(set(trained.tokens)),
        "pattern": trained.pattern,
        "fed": trained.fed,
        "eval_bytes": eval_bytes,
        "eval_tokens": n_tokens,
        "bytes_per_token": eval_bytes / n_tokens if n_tokens else None,
        "encode_s": encode_s,
        "encode_error": encode_error,
        **trained.extra,
    }
    os.write(result_fd, (json.dumps(result) + "\n").encode())
    return 0


# ------------------------------------------------------------------------------------------------
# parent: run the trials, print the table
# ------------------------------------------------------------------------------------------------


@dataclass
class Row:
    trainer: str
    corpus: str
    vocab: int
    result: dict[str, Any] | None = None  # best (min) over repeats
    error: str = ""
    shared: float | None = None  # fraction of the baseline's tokens also in this vocabulary
    first_diff: int | None = None  # first id whose learned token differs from the baseline's


def run_trial(
    trainer: str,
    train_file: Path,
    eval_file: Path,
    vocab: int,
    args: argparse.Namespace,
    vocab_out: Path,
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        trainer,
        "--train-file",
        str(train_file),
        "--eval-file",
        str(eval_file),
        "--vocab",
        str(vocab),
        "--pattern",
        args.pattern,
        "--chunk-kb",
        str(args.chunk_kb),
        "--hf-input",
        args.hf_input,
        "--vocab-out",
        str(vocab_out),
    ]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="true")
    if args.threads:
        cmd += ["--threads", str(args.threads)]
        env["RAYON_NUM_THREADS"] = str(args.threads)  # rayon pools of HF, rustbpe, bpeasy
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=args.timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {args.timeout:g} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = [ln for ln in proc.stderr.splitlines() if ln.strip()][-1:]
        tail = tail or [f"exit {proc.returncode}"]
        if args.verbose:
            print(proc.stderr, file=sys.stderr)
        return {"error": tail[0][:200]}
    if args.verbose:
        print(proc.stderr, file=sys.stderr, end="")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run_cell(
    corpus: str,
    vocab: int,
    train_file: Path,
    eval_file: Path,
    tmp: Path,
    args: argparse.Namespace,
    raw: list[dict[str, Any]],
) -> list[Row]:
    """All trainers on one (corpus, vocab), `--repeat` rounds of one run each.

    Rounds rather than back-to-back repeats, so that a change in the machine's load during the
    cell touches every trainer alike.
    """
    rows = {t: Row(t, corpus, vocab) for t in args.trainers}
    results: dict[str, list[dict[str, Any]]] = {t: [] for t in args.trainers}
    for _ in range(args.repeat):
        for trainer, row in rows.items():
            if row.error:
                continue
            vocab_out = tmp / f"{trainer}-{corpus}-{vocab}.vocab"
            res = run_trial(trainer, train_file, eval_file, vocab, args, vocab_out)
            raw.append({"corpus": corpus, "vocab": vocab, **res})
            if "error" in res:
                row.error = res["error"]
                print(f"{trainer:8} {corpus:3} {vocab:6}: failed: {row.error}", file=sys.stderr)
                continue
            results[trainer].append(res)
            wall, cpu, rss = res["wall_s"], res["cpu_s"], res["peak_rss_mib"]
            print(
                f"{trainer:8} {corpus:3} {vocab:6}: {wall:8.2f} s wall {cpu:8.2f} s CPU"
                f" {rss:7.0f} MiB",
                file=sys.stderr,
            )
    for trainer, row in rows.items():
        if not row.error:
            row.result = best_of(results[trainer])
    return list(rows.values())


def best_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest run, with the smallest CPU time and peak RSS seen over all runs."""
    best = dict(min(results, key=lambda r: r["wall_s"]))
    best["cpu_s"] = min(r["cpu_s"] for r in results)
    best["peak_rss_mib"] = min(r["peak_rss_mib"] for r in results)
    best["runs"] = len(results)
    return best


def read_vocab(path: Path) -> list[bytes]:
    return [bytes.fromhex(line) for line in path.read_text().split()]


def compare(cell: list[Row], baseline: str, vocab_files: dict[str, Path]) -> None:
    """Fill `shared` and `same_order` of the rows of one (corpus, vocab) cell."""
    if not any(r.trainer == baseline and r.result for r in cell):
        return
    base = read_vocab(vocab_files[baseline])
    base_set = set(base)
    for r in cell:
        if r.result is not None:
            tokens = read_vocab(vocab_files[r.trainer])
            r.shared = len(base_set.intersection(tokens)) / len(base_set)
            # ids 0..255 are the bytes, but HF numbers its alphabet in character order
            pairs = zip(tokens[256:], base[256:], strict=False)
            r.first_diff = next((256 + i for i, (a, b) in enumerate(pairs) if a != b), None)
            if r.first_diff is None and len(tokens) != len(base):
                r.first_diff = min(len(tokens), len(base))


def fmt_ratio(x: float | None, base: float | None) -> str:
    if x is None or not base:
        return "-"
    return f"{x / base:.2f}x"


def shared_cell(r: Row) -> str:
    if r.shared is None:
        return "-"
    pct = math.floor(1000 * r.shared) / 10  # never round 99.97% up to 100.0%
    order = "same order" if r.first_diff is None else f"order differs at id {r.first_diff}"
    return f"{pct:.1f}% ({order})"


def table(rows: list[Row], baseline: str, markdown: bool) -> str:
    header = [
        "trainer",
        "corpus",
        "vocab",
        "wall s",
        f"time / {baseline}",
        "CPU s",
        "peak RSS MiB",
        f"RSS / {baseline}",
        "RSS before MiB",
        "bytes/token",
        f"tokens shared with {baseline}",
    ]
    base = {(r.corpus, r.vocab): r.result for r in rows if r.trainer == baseline and r.result}
    body = []
    for r in rows:
        b = base.get((r.corpus, r.vocab))
        if r.result is None:
            body.append([r.trainer, r.corpus, str(r.vocab), "failed", *[""] * 8])
            continue
        res = r.result
        got = res.get("distinct_tokens", res["vocab_size"])  # distinct byte strings
        vocab = str(r.vocab) if got == r.vocab else f"{r.vocab} (got {got})"
        bpt = res.get("bytes_per_token")
        body.append(
            [
                r.trainer,
                r.corpus,
                vocab,
                f"{res['wall_s']:.2f}",
                fmt_ratio(res["wall_s"], b["wall_s"] if b else None),
                f"{res['cpu_s']:.2f}",
                f"{res['peak_rss_mib']:.0f}",
                fmt_ratio(res["peak_rss_mib"], b["peak_rss_mib"] if b else None),
                f"{res['rss_before_mib']:.0f}",
                f"{bpt:.3f}" if bpt else "n/a",
                shared_cell(r),
            ]
        )
    if markdown:
        align = "|".join("---" if i < 2 else "--:" for i in range(len(header)))
        out = ["| " + " | ".join(header) + " |", "|" + align + "|"]
        out += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(out)
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" if i < 3 else f"{{:>{w}}}" for i, w in enumerate(widths))
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*row) for row in body]
    return "\n".join(out)


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = ""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        mem = f", {pages * size / 2**30:.0f} GiB RAM"
    except (ValueError, OSError):
        pass
    py = platform.python_version()
    return f"{os.cpu_count()} cores ({model}){mem}, Python {py}, {platform.system()}"


def versions(trainers: Sequence[str]) -> str:
    out = []
    for t in trainers:
        try:
            out.append(f"{PACKAGES[t]} {importlib.metadata.version(PACKAGES[t])}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{PACKAGES[t]} (not installed)")
    return ", ".join(out)


def notes(
    rows: list[Row],
    args: argparse.Namespace,
    sizes: dict[str, tuple[int, int]],
    raw: list[dict[str, Any]],
) -> list[str]:
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    out = [
        f"machine: {machine()}; threads: {args.threads or 'all'}; load average at the end: {load}",
        f"versions: {versions(args.trainers)}",
    ]
    held = "held out" if args.holdout_mb > 0 else "in-sample"
    out += [f"{r.trainer} {r.corpus} {r.vocab} failed: {r.error}" for r in rows if r.error]
    out += [
        f"{r.trainer} {r.corpus} {r.vocab}: encoding failed: {r.result['encode_error']}"
        for r in rows
        if r.result and r.result.get("encode_error")
    ]
    builds = sorted({x["build"] for x in raw if x.get("build")})
    if builds:
        many = " (several: bytepair was rebuilt during the run)" if len(builds) > 1 else ""
        out.append(f"bytepair native module built {', '.join(builds)}{many}")
    for name, (train_b, eval_b) in sizes.items():
        out.append(
            f"corpus {name}: {train_b / 1e6:.1f} MB of training text;"
            f" bytes/token on {eval_b / 1e6:.2f} MB {held}"
        )
    for trainer in args.trainers:
        done = [r for r in rows if r.trainer == trainer and r.result is not None]
        if not done:
            continue
        _, adjusted = peer_pattern(trainer, args.pattern)
        first = done[0].result
        assert first is not None  # (done keeps the rows with a result)
        exact = first["pattern"] == PATTERNS[args.pattern]
        pat = "exact" if exact else f"differs from tiktoken's ({adjusted or 'as reported'})"
        fed = []
        for corpus in args.corpus:
            res = next((r.result for r in done if r.corpus == corpus), None)
            if res is not None:
                prep = f" (built in {res['prep_s']:.2f} s, not timed)" if res["prep_s"] else ""
                fed.append(f"{corpus}: {res['fed']}{prep}")
        out.append(f"{trainer}: {args.pattern} pattern {pat}; fed {'; '.join(fed)}")
    out.append(
        f"wall s = the training call only, min of {args.repeat}; CPU s = user + system time of"
        " all the child's threads during that call; peak RSS = the child's VmHWM"
        " (includes the interpreter, the imports and any input held in Python); tokens shared ="
        f" share of {args.baseline}'s vocabulary also learned by the trainer"
    )
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--corpus", nargs="+", choices=("en", "all"), default=["en", "all"])
    p.add_argument("--vocab", nargs="+", type=int, default=[32000, 64000])
    p.add_argument("--trainers", default=",".join(TRAINERS), help="subset of " + ",".join(TRAINERS))
    p.add_argument("--pattern", choices=tuple(PATTERNS), default="o200k")
    p.add_argument("--repeat", type=int, default=1, help="trials per cell; min is shown")
    p.add_argument("--threads", type=int, default=None, help="default: all cores")
    p.add_argument("--markdown", action="store_true", help="markdown for bench/README.md")
    p.add_argument("--baseline", default="bytepair", help="trainer the ratios are relative to")
    p.add_argument(
        "--holdout-mb", type=float, default=1.0, help="MB held out for bytes/token; 0: in-sample"
    )
    p.add_argument("--chunk-kb", type=int, default=64, help="chunks fed to rustbpe/bpeasy")
    p.add_argument(
        "--hf-input",
        choices=("file", "chunks"),
        default="file",
        help="HF gets the file path (read by lines) or the peers' chunks",
    )
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per trial")
    p.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    p.add_argument("--verbose", action="store_true", help="pass the workers' stderr through")
    p.add_argument("--worker", choices=TRAINERS, help=argparse.SUPPRESS)
    p.add_argument("--train-file", help=argparse.SUPPRESS)
    p.add_argument("--eval-file", help=argparse.SUPPRESS)
    p.add_argument("--vocab-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker is None:
        args.trainers = [t.strip() for t in args.trainers.split(",") if t.strip()]
        unknown = [t for t in args.trainers if t not in TRAINERS]
        if unknown:
            p.error(f"unknown trainer(s) {', '.join(unknown)}; choose from {', '.join(TRAINERS)}")
        if args.repeat < 1:
            p.error("--repeat must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(args)
    if not (CORPUS_DIR / "en.txt").is_file():
        sys.exit(f"train.py: shared corpus not found at {CORPUS_DIR} (expected at ../shared)")

    rows: list[Row] = []
    sizes: dict[str, tuple[int, int]] = {}
    raw: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bytepair-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for corpus in args.corpus:
            train_text, eval_text = split_holdout(load_corpus(corpus), int(args.holdout_mb * 1e6))
            train_file, eval_file = tmp / f"{corpus}-train.txt", tmp / f"{corpus}-eval.txt"
            train_file.write_text(train_text, encoding="utf-8")
            eval_file.write_text(eval_text, encoding="utf-8")
            sizes[corpus] = (len(train_text.encode("utf-8")), len(eval_text.encode("utf-8")))
            del train_text, eval_text
            for vocab in args.vocab:
                cell = run_cell(corpus, vocab, train_file, eval_file, tmp, args, raw)
                compare(
                    cell,
                    args.baseline,
                    {r.trainer: tmp / f"{r.trainer}-{corpus}-{vocab}.vocab" for r in cell},
                )
                rows += cell

    command = "python bench/train.py " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    print(("`" + command.strip() + "`") if args.markdown else command.strip())
    print()
    print(table(rows, args.baseline, args.markdown))
    print()
    for line in notes(rows, args, sizes, raw):
        print(("- " if args.markdown else "") + line)
    if args.json:
        table_rows = [
            {"trainer": r.trainer, "corpus": r.corpus, "vocab": r.vocab, "error": r.error}
            | {"shared": r.shared, "first_diff": r.first_diff, **(r.result or {})}
            for r in rows
        ]
        dump = {"command": command, "machine": machine(), "rows": table_rows, "runs": raw}
        Path(args.json).write_text(json.dumps(dump, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
