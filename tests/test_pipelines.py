"""Distributed encoding and counting: tokenizers in worker processes (fork, spawn) and threads,
and the recipes of ``bytepair.pipelines`` run on the real engines (Ray Data in local mode, HF
datasets), compared with plain ``encode`` / counting at once."""

from __future__ import annotations

import multiprocessing as mp
import pickle
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import bytepair
import numpy as np
import pytest
from bytepair import Tokenizer
from bytepair.pipelines import CountBatch, EncodeBatch, merge_count_column
from helpers import EOT, assert_same_merges, fixture_text, paragraphs


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return bytepair.train_from_iterator([fixture_text("en_kjv")], 800, special_tokens=[EOT])


@pytest.fixture(scope="module")
def docs() -> list[str]:
    return paragraphs(fixture_text("en_kjv") + fixture_text("code_python"))[:600]


def test_pickle_is_the_serialized_form(tok: Tokenizer) -> None:
    data = pickle.dumps(tok)
    assert len(data) < 2 * len(tok.to_json())
    back = pickle.loads(data)
    assert back.to_json() == tok.to_json()
    assert back.encode("In the beginning") == tok.encode("In the beginning")


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_worker_processes(tok: Tokenizer, docs: list[str], method: str) -> None:
    if method not in mp.get_all_start_methods():
        pytest.skip(f"start method {method} not available here")
    want = [tok.encode(d) for d in docs]
    with mp.get_context(method).Pool(2) as pool:
        got = pool.map(tok.encode, docs, chunksize=50)
        counts = pool.map(CountBatch("o200k"), [{"text": docs[:300]}, {"text": docs[300:]}])
    assert got == want
    merged = merge_count_column(c["counts"][0] for c in counts)
    assert merged == bytepair.count_pretokens(iter(docs))


def test_threads(tok: Tokenizer, docs: list[str]) -> None:
    want = [tok.encode(d) for d in docs]
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(tok.encode, docs))
        batches = list(ex.map(lambda i: tok.encode_batch(docs[i::4]), range(4)))
    assert got == want
    for i, b in enumerate(batches):
        assert b == want[i::4]


def test_encode_batch_function(tok: Tokenizer, docs: list[str]) -> None:
    out = EncodeBatch(tok, eot=True)({"text": np.array(docs, dtype=object), "n": list(docs)})
    e = tok.special_tokens[EOT]
    assert [a.tolist() for a in out["ids"]] == [[*tok.encode(d), e] for d in docs]
    assert out["ids"][0].dtype == np.dtype("<u2")
    assert out["num_tokens"].tolist() == [len(tok.encode(d)) + 1 for d in docs]
    assert out["n"] == docs
    with pytest.raises(KeyError, match="no column 'body'"):
        EncodeBatch(tok, "body")({"text": docs})
    with pytest.raises(TypeError, match="row 1 of column 'text' is NoneType"):
        EncodeBatch(tok)({"text": ["a", None]})


def test_hf_datasets_map(tok: Tokenizer, docs: list[str]) -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"text": docs})
    enc = ds.map(EncodeBatch(tok), batched=True, batch_size=64)
    assert enc["ids"] == [tok.encode(d) for d in docs]
    parts = ds.map(CountBatch("o200k", [EOT]), batched=True, batch_size=100,
                   remove_columns=ds.column_names)
    assert len(parts) == -(-len(docs) // 100) > 1
    counts = merge_count_column(parts["counts"])
    assert counts == bytepair.count_pretokens(iter(docs), special_tokens=[EOT])
    trained = bytepair.train(vocab_size=600, from_counts=[counts], special_tokens=[EOT])
    direct = bytepair.train_from_iterator(docs, 600, special_tokens=[EOT])
    assert_same_merges(trained.merges, direct.merges)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_ray_data_map_batches(tok: Tokenizer, docs: list[str]) -> None:
    try:
        import ray
        import ray.data
    except ImportError as e:  # pragma: no cover - depends on the environment
        pytest.skip(f"ray is not importable: {e}")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        ds = ray.data.from_items([{"text": d, "i": i} for i, d in enumerate(docs)])
        enc = ds.map_batches(EncodeBatch(tok, eot=True), batch_size=64, batch_format="numpy")
        rows: list[dict[str, Any]] = sorted(enc.take_all(), key=lambda r: int(r["i"]))
        e = tok.special_tokens[EOT]
        assert [list(r["ids"]) for r in rows] == [[*tok.encode(d), e] for d in docs]
        parts = ds.map_batches(CountBatch("o200k", [EOT]), batch_size=100,
                               batch_format="numpy")
        counts = merge_count_column(r["counts"] for r in parts.iter_rows())
        assert counts == bytepair.count_pretokens(iter(docs), special_tokens=[EOT])
        trained = bytepair.train(vocab_size=600, from_counts=[counts], special_tokens=[EOT])
        direct = bytepair.train_from_iterator(docs, 600, special_tokens=[EOT])
        assert_same_merges(trained.merges, direct.merges)
    finally:
        ray.shutdown()
