"""Corpus encoding benchmark: ``bytepair encode`` vs the scripts people write with tiktoken and
HF tokenizers, on the shared corpus, in one run.

Every peer turns the same documents (the corpus split into blank-line paragraphs, as
``--doc-sep blank-line`` does) into the same flat token file: each document's ids then the
end-of-text id, as little-endian uint32 (cl100k has 100k ids) plus int64 document offsets.
All load cl100k_base from ../shared/vocab: bytepair and tiktoken the rank file, HF tokenizers
the tokenizer.json bytepair saves from it. Each peer's token file is compared with bytepair's.

Peers (each runs in a child process that imports only what it needs; wall time, CPU time and
peak RSS (VmHWM) of the whole run):

- ``bytepair``: ``bytepair.encode_corpus`` (= ``bytepair encode``): streamed, all cores.
- ``tiktoken script``: the common one-process script (nanoGPT's ``prepare.py`` style): read the
  file, split it, ``enc.encode_ordinary(doc)`` per document, append the end-of-text id to one
  list, ``np.array(ids, dtype=np.uint32).tofile(...)``.
- ``tiktoken batch``: a better script: 8 MB batches through
  ``enc.encode_ordinary_batch(docs, num_threads=2)``, written as it goes.
- ``HF tokenizers``: 8 MB batches through ``tok.encode_batch(docs, add_special_tokens=False)``
  (rayon on all cores), ids flattened with numpy, written as it goes. Its end-of-text id is
  given as 100257: HF loads the saved file's ``<|endoftext|>`` (id 100257; cl100k has no id
  100256) as 100256.

    python bench/encode_corpus.py                       # en.txt; bytepair + script on en x4
    python bench/encode_corpus.py --corpus all --markdown
    python bench/encode_corpus.py --scales 1 --peers bytepair,tiktoken-batch
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
VOCAB = SHARED / "vocab" / "cl100k_base.tiktoken"
EOT = "<|endoftext|>"
SEP = re.compile(r"\r?\n(?:[ \t]*\r?\n)+")
BATCH = 8 << 20
PEERS = ("bytepair", "tiktoken-script", "tiktoken-batch", "hf")
LABELS = {
    "bytepair": "bytepair encode",
    "tiktoken-script": "tiktoken script",
    "tiktoken-batch": "tiktoken batch (2 threads)",
    "hf": "HF tokenizers batch",
}


def vmhwm_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def tiktoken_encoding() -> Any:
    import tiktoken
    import tiktoken.load
    import tiktoken_ext.openai_public as op

    orig = op.load_tiktoken_bpe
    op.load_tiktoken_bpe = lambda *a, **k: tiktoken.load.load_tiktoken_bpe(str(VOCAB))
    try:
        spec = op.cl100k_base()
    finally:
        op.load_tiktoken_bpe = orig
    return tiktoken.Encoding(**spec)


def stream_docs(path: Path) -> Iterator[list[str]]:
    """Blank-line documents in ~8 MB batches, read 4 MB at a time (what bytepair does)."""
    carry, batch, size = "", [], 0
    with open(path, encoding="utf-8", newline="") as f:
        while True:
            block = f.read(4 << 20)
            parts = SEP.split(carry + block)
            carry = parts.pop() if block else ""
            for d in parts:
                if d:
                    batch.append(d)
                    size += len(d)
                    if size >= BATCH:
                        yield batch
                        batch, size = [], 0
            if not block:
                break
    if batch:
        yield batch


def write_batch(ftok: Any, fidx: Any, per_doc: list[list[int]], eot: int, base: int) -> int:
    import numpy as np

    lens = np.fromiter((len(x) + 1 for x in per_doc), dtype=np.int64, count=len(per_doc))
    flat = np.empty(int(lens.sum()), dtype="<u4")
    ends = np.cumsum(lens)
    pos = 0
    for ids, end in zip(per_doc, ends, strict=True):
        flat[pos : end - 1] = ids
        flat[end - 1] = eot
        pos = int(end)
    ftok.write(flat.tobytes())
    fidx.write((ends + base).astype("<i8").tobytes())
    return base + int(ends[-1]) if len(ends) else base


def worker(name: str, path: Path, out: Path, threads: int) -> dict[str, Any]:
    import numpy as np

    t_load = time.perf_counter()
    if name == "bytepair":
        import bytepair

        tok = bytepair.Tokenizer.from_file(VOCAB, pattern="cl100k_base", special_tokens="default")
    elif name.startswith("tiktoken"):
        enc = tiktoken_encoding()
        eot = enc.eot_token
    else:
        import tokenizers

        hf = tokenizers.Tokenizer.from_file(str(out.with_suffix(".tokenizer.json")))
        # Not hf.token_to_id(EOT): HF renumbers the added tokens of this file (cl100k has no
        # id 100256, and HF gives <|endoftext|> 100256 instead of the file's 100257).
        eot = 100257
    load_s = time.perf_counter() - t_load
    rss_before = vmhwm_mib()
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if name == "bytepair":
        bytepair.encode_corpus(tok, [path], out, doc_sep="blank-line", num_threads=threads,
                               progress=False)
    elif name == "tiktoken-script":
        text = path.read_text(encoding="utf-8")
        docs = [d for d in SEP.split(text) if d]
        ids: list[int] = []
        index = [0]
        for d in docs:
            ids.extend(enc.encode_ordinary(d))
            ids.append(eot)
            index.append(len(ids))
        np.array(ids, dtype=np.uint32).tofile(out.with_suffix(".bin"))
        np.array(index, dtype=np.int64).tofile(out.with_suffix(".idx"))
    else:
        with open(out.with_suffix(".bin"), "wb") as ftok, open(out.with_suffix(".idx"), "wb") as fi:
            fi.write(np.zeros(1, dtype="<i8").tobytes())
            base = 0
            for batch in stream_docs(path):
                if name == "tiktoken-batch":
                    per_doc = enc.encode_ordinary_batch(batch, num_threads=threads)
                else:
                    per_doc = [e.ids for e in hf.encode_batch(batch, add_special_tokens=False)]
                base = write_batch(ftok, fi, per_doc, eot, base)
    wall = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    return {"peer": name, "wall": wall, "cpu": cpu, "peak_mib": vmhwm_mib(),
            "rss_before_mib": rss_before, "load_s": load_s}


def run_child(name: str, path: Path, out: Path, threads: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", name, "--input", str(path), "--out", str(out),
           "--threads", str(threads)]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "true", "RAYON_NUM_THREADS": str(threads)}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{r.stderr}")
    return dict(json.loads(r.stdout.strip().splitlines()[-1]))


def make_corpus(kind: str, scale: int, tmp: Path) -> Path:
    if kind == "en":
        files = [SHARED / "corpus" / "en.txt"]
    else:
        root = SHARED / "corpus"
        files = [root / "en.txt", *sorted((root / "code").glob("*.txt")),
                 *sorted((root / "langs").glob("*.txt"))]
    if kind == "en" and scale == 1:
        return files[0]
    out = tmp / f"{kind}x{scale}.txt"
    with open(out, "wb") as f:
        for _ in range(scale):
            for p in files:
                data = p.read_bytes()
                f.write(data)
                if not data.endswith(b"\n\n"):
                    f.write(b"\n\n")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", choices=("en", "all"), default="en")
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 4],
                    help="corpus copies; all peers run on the first, --scale-peers on all")
    ap.add_argument("--scale-peers", default="bytepair,tiktoken-script",
                    help="peers that also run on the larger copies (memory growth)")
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=1, help="runs per trial (the fastest is kept)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.input), Path(args.out), args.threads)))
        return
    if not VOCAB.is_file():
        sys.exit(f"needs {VOCAB} and ../shared/corpus")
    import bytepair
    import numpy as np

    peers = [p for p in args.peers.split(",") if p]
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        tok = bytepair.Tokenizer.from_file(VOCAB, pattern="cl100k_base", special_tokens="default")
        rows = []
        for si, scale in enumerate(args.scales):
            path = make_corpus(args.corpus, scale, tmp)
            mb = path.stat().st_size / 1e6
            ref: Any = None
            scale_peers = args.scale_peers.split(",")
            for name in peers if si == 0 else [p for p in peers if p in scale_peers]:
                out = tmp / f"{name}-{scale}"
                tok.save(out.with_suffix(".tokenizer.json"))
                best = None
                for _ in range(args.repeat):
                    r = run_child(name, path, out, args.threads)
                    if best is None or r["wall"] < best["wall"]:
                        best = r
                assert best is not None
                ids = np.fromfile(out.with_suffix(".bin"), dtype="<u4")
                idx = np.fromfile(out.with_suffix(".idx"), dtype="<i8")
                if name == "bytepair":
                    ref = (ids, idx)
                    same = "(reference)"
                else:
                    same = "yes" if (ref is not None and np.array_equal(ids, ref[0])
                                     and np.array_equal(idx, ref[1])) else "NO"
                best.update(mb=mb, scale=scale, mbps=mb / best["wall"], same=same,
                            tokens=len(ids), docs=len(idx) - 1)
                rows.append(best)
                for f in tmp.glob(f"{name}-{scale}.*"):
                    if f.suffix in (".bin", ".idx", ".json") and name != "bytepair":
                        f.unlink()
                print(f"{LABELS[name]:28s} x{scale} {mb:7.1f} MB {best['wall']:7.2f} s "
                      f"{best['mbps']:7.1f} MB/s cpu {best['cpu']:6.2f} s "
                      f"peak {best['peak_mib']:6.0f} MiB same={same}", file=sys.stderr)
            for f in tmp.glob(f"bytepair-{scale}.*"):
                f.unlink()
    base = {r["scale"]: r for r in rows if r["peer"] == "bytepair"}
    head = ("| script | corpus | MB | wall s | MB/s | bytepair speed-up (wall) | CPU s "
            "| CPU / bytepair | peak RSS MiB | RSS before MiB | same tokens |")
    print(head)
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        b = base[r["scale"]]
        print(f"| {LABELS[r['peer']]} | {args.corpus} x{r['scale']} | {r['mb']:.1f} | "
              f"{r['wall']:.2f} | {r['mbps']:.1f} | {b['mbps'] / r['mbps']:.1f}x | "
              f"{r['cpu']:.2f} | {r['cpu'] / b['cpu']:.1f}x | {r['peak_mib']:.0f} | "
              f"{r['rss_before_mib']:.0f} | {r['same']} |")
    print(f"\n- {args.threads} threads; documents: {rows[0]['docs']:,} blank-line paragraphs, "
          f"{rows[0]['tokens']:,} tokens (end-of-text ids included) at x1; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
