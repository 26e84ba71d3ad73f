#!/usr/bin/env python3
"""SuperBPE benchmark: compression, training time and memory of bytepair's two-stage trainer.

On the shared English text (`../shared/corpus/en.txt`, paragraphs shuffled with a fixed seed so
that training and held-out text come from every part of the file), for each vocabulary size:

* BPE: `bytepair.train` with o200k's pattern;
* stage-2 only: `bytepair.train` with the stage-2 pattern alone (the paper's baseline);
* SuperBPE: `bytepair.train_superbpe` at several transition points;
* HF stage-2 only: HF `tokenizers` BpeTrainer with `Split(stage-2 regex, Isolated)` +
  `ByteLevel`, fed the same ~1 MB chunks (the only peer: the reference SuperBPE is an HF fork,
  whose stage 2 is this run plus the replay).

Each trial runs in its own child process (`--worker`), which reports wall and CPU seconds of the
training call, the resident memory before it and the peak (VmHWM), and bytes per token on the
held-out text. Ratios are what count here (2 shared cores: wall-clock is noisy).

    python bench/superbpe.py                       # 32k and 64k, ~7 MB train, 1 MB held out
    python bench/superbpe.py --vocab 32000 --no-hf --markdown
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "en.txt"
STAGE2 = r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]{2,}[\r\n/]*| +(?!\S)"
TRANSITIONS = {32000: (8000, 16000, 24000, 28000), 64000: (16000, 32000, 48000, 56000)}


def status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def chunks_of(text: str, size: int = 1 << 20) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def worker(args: argparse.Namespace) -> int:
    spec: dict[str, Any] = json.loads(args.worker)
    train_path, held_path = spec["train"], spec["held"]
    vocab, kind = spec["vocab"], spec["kind"]
    held = Path(held_path).read_text(encoding="utf-8")
    held_chunks = chunks_of(held, 64 << 10)
    extra: dict[str, Any] = {}
    if kind == "hf":
        from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

        tok: Any = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(STAGE2), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
        trainer = trainers.BpeTrainer(
            vocab_size=vocab,
            min_frequency=2,
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        chunks = chunks_of(Path(train_path).read_text(encoding="utf-8"))
        base, c0, t0 = status_kib("VmRSS"), cpu(), time.perf_counter()
        tok.train_from_iterator(chunks, trainer)
        wall, cpu_s, peak = time.perf_counter() - t0, cpu() - c0, status_kib("VmHWM")
        ntok = sum(len(e.ids) for e in tok.encode_batch(held_chunks, add_special_tokens=False))
    else:
        import bytepair
        from bytepair.supertoken import train_superbpe_with_stats

        base, c0, t0 = status_kib("VmRSS"), cpu(), time.perf_counter()
        if kind == "superbpe":
            tok, extra = train_superbpe_with_stats(
                [train_path],
                vocab,
                spec["transition"],
                prune_below=spec.get("prune_below", 0),
                max_pretoken_words=spec.get("max_pretoken_words"),
                progress=False,
            )
        else:
            pattern = "o200k" if kind == "bpe" else "superbpe"
            tok = bytepair.train([train_path], vocab, pattern=pattern, progress=False)
        wall, cpu_s, peak = time.perf_counter() - t0, cpu() - c0, status_kib("VmHWM")
        ntok = sum(len(ids) for ids in tok.encode_batch(held_chunks))
    out = {
        **spec,
        "wall_s": wall,
        "cpu_s": cpu_s,
        "base_mib": base / 1024,
        "peak_mib": peak / 1024,
        "bytes_per_token": len(held.encode("utf-8")) / ntok,
        "stats": extra,
    }
    print(json.dumps(out))
    return 0


def split_corpus(train_mb: float, held_mb: float, folder: Path) -> tuple[Path, Path, int]:
    """Shuffle en.txt's paragraphs (seed 0); every 8th goes to the held-out text until it holds
    `held_mb`, the others to the training text until it holds `train_mb`."""
    paras = CORPUS.read_text(encoding="utf-8").split("\n\n")
    random.Random(0).shuffle(paras)
    train: list[str] = []
    held: list[str] = []
    tb = hb = 0
    for i, p in enumerate(paras):
        n = len(p.encode("utf-8")) + 2
        if i % 8 == 0 and hb < held_mb * 1e6:
            held.append(p)
            hb += n
        elif tb < train_mb * 1e6:
            train.append(p)
            tb += n
    tp, hp = folder / "train.txt", folder / "held.txt"
    tp.write_text("\n\n".join(train), encoding="utf-8")
    hp.write_text("\n\n".join(held), encoding="utf-8")
    return tp, hp, tp.stat().st_size


def run(spec: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", json.dumps(spec)]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"{spec}: {p.stderr[-2000:]}")
    return dict(json.loads(p.stdout.strip().splitlines()[-1]))


def label(r: dict[str, Any]) -> str:
    kind = r["kind"]
    if kind == "superbpe":
        s = f"SuperBPE t={r['transition'] // 1000}k"
        if r.get("prune_below"):
            s += f", prune_below={r['prune_below']}"
        if r.get("max_pretoken_words"):
            s += f", max_pretoken_words={r['max_pretoken_words']}"
        return s
    return {"bpe": "BPE (o200k)", "stage2": "stage-2 pattern only", "hf": "HF stage-2 only"}[kind]


def table(rows: list[dict[str, Any]], corpus_bytes: int) -> str:
    mb = corpus_bytes / 2**20
    out = [
        "| vocab | tokenizer | bytes/token | tokens vs BPE | wall s | CPU s | "
        "peak RSS - before (MiB) | x corpus | "
        "stages (count / stage 1 / replay / stage 2 merge, s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in sorted({r["vocab"] for r in rows}):
        cell = [r for r in rows if r["vocab"] == v]
        bpe = next((r["bytes_per_token"] for r in cell if r["kind"] == "bpe"), None)
        for r in cell:
            # token count relative to BPE's on the held-out text (negative: fewer tokens)
            fewer = f"{bpe / r['bytes_per_token'] - 1:+.1%}" if bpe else ""
            grow = r["peak_mib"] - r["base_mib"]
            st = r.get("stats") or {}
            stages = ""
            if st:
                stages = (
                    f"{st['seconds_count']:.2f} / {st['stage1_seconds']:.2f} / "
                    f"{st['stage2_seconds_replay']:.2f} / {st['stage2_seconds_merge']:.2f}"
                )
            out.append(
                f"| {v // 1000}k | {label(r)} | {r['bytes_per_token']:.3f} | {fewer} | "
                f"{r['wall_s']:.2f} | {r['cpu_s']:.2f} | {grow:.0f} | {grow / mb:.1f} | {stages} |"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--vocab", type=int, action="append", help="vocab sizes (default 32k, 64k)")
    ap.add_argument("--train-mb", type=float, default=7.0, help="training text, MB (default 7)")
    ap.add_argument("--held-mb", type=float, default=1.0, help="held-out text, MB (default 1)")
    ap.add_argument("--no-hf", action="store_true", help="skip HF tokenizers (slow)")
    ap.add_argument("--markdown", action="store_true", help="print only the markdown table")
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    if not CORPUS.is_file():
        print(f"shared corpus not found at {CORPUS}", file=sys.stderr)
        return 2
    vocabs = args.vocab or [32000, 64000]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tp, hp, size = split_corpus(args.train_mb, args.held_mb, Path(tmp))
        base = {"train": str(tp), "held": str(hp)}
        for v in vocabs:
            specs: list[dict[str, Any]] = [
                {"vocab": v, "kind": "bpe"},
                {"vocab": v, "kind": "stage2"},
            ]
            ts = TRANSITIONS.get(v, (v // 2, 3 * v // 4, 7 * v // 8))
            specs += [{"vocab": v, "kind": "superbpe", "transition": t} for t in ts]
            best_t = ts[1]
            specs += [
                {"vocab": v, "kind": "superbpe", "transition": best_t, "prune_below": 2},
                {"vocab": v, "kind": "superbpe", "transition": best_t, "prune_below": 4},
                {"vocab": v, "kind": "superbpe", "transition": best_t, "max_pretoken_words": 8},
            ]
            if not args.no_hf:
                specs.append({"vocab": v, "kind": "hf"})
            for spec in specs:
                r = run({**base, **spec})
                rows.append(r)
                if not args.markdown:
                    print(f"{v} {label(r)}: {r['bytes_per_token']:.3f} b/t, {r['wall_s']:.2f} s",
                          file=sys.stderr, flush=True)
    print(f"training text: {size / 1e6:.2f} MB of en.txt (shuffled paragraphs), "
          f"held out: {args.held_mb} MB; threads: {os.cpu_count()} cores")
    print(table(rows, size))
    if not args.markdown:
        for r in rows:
            r.pop("train", None)
            r.pop("held", None)
            print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
