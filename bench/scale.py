"""Cost as the collection grows: ingest throughput per step, search p50/p95 per mode, an
unchanged re-ingest, and peak memory, from a small collection to a large one.

Vectors come from an in-process `DeterministicFakeEmbedding` (384-d), so the embedding
server costs nothing and what is measured is rankwise and Milvus. Texts are
trec-dl19-subset passages made unique. The anchor is plain pymilvus inserting the same
rows into the same kind of collection (HNSW and a BM25 function, default parameters),
in batches of 10,000 with a flush after each, measured in the same run: rankwise's
throughput at each step is printed as a ratio of its own first step and of the anchor's.
Searches have an anchor too: plain pymilvus searching rankwise's own collection at each
step (dense, BM25, and Milvus's `hybrid_search` with a WeightedRanker), with the query's
vector and terms made beforehand; rankwise's p50 is printed as a ratio of it.

With `--server`, both talk to milvus-lite's Milvus-protocol server in its own process (the
path users outgrow one process by), and its peak memory is printed beside rankwise's. With
`--uri`, both talk to a Milvus server already running there (its collections named
`rankwise_bench*` are dropped first; `--server-pid` reports its memory); on a server without
BM25 (Milvus < 2.5) only dense search is measured. Peak memory is the kernel's high-water
mark (VmHWM) of each process.

    python bench/scale.py --quick            # 3k -> 10k -> 30k chunks, a few minutes
    python bench/scale.py                    # 10k -> 30k -> 100k -> 300k (Milvus Lite)
    python bench/scale.py --server --steps 10000 100000 300000
    python bench/scale.py --uri http://127.0.0.1:19530 --steps 10000 100000 1000000
    python bench/scale.py --plot docs/scale.png
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import cache
from multiprocessing import get_context
from pathlib import Path

from _support import corpus, percentile
from langchain_core.embeddings import DeterministicFakeEmbedding
from rankwise.tools import KnowledgeBase, Settings

BATCH = 10_000
MODES = ("dense", "lexical", "hybrid")
PREFIX = "rankwise_bench"
ANCHOR = f"{PREFIX}_anchor"


@cache
def passages() -> list[str]:
    return [row["text"] for row in corpus()]


def texts(start: int, stop: int) -> list[str]:
    """Rows start..stop of the corpus made unique, made as needed: the benchmark holds no
    more of them than one batch, so the peak memory it reports is rankwise's."""
    every = passages()
    return [f"{every[n % len(every)]} (copy {n // len(every)})" for n in range(start, stop)]


def peak_mb(pid: int | str = "self") -> float:
    """The process's resident-memory high-water mark, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed(calls: list[Callable[[], object]]) -> tuple[float, float]:
    """p50 and p95 of the calls, in ms."""
    times = []
    for call in calls:
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, percentile(times, 0.95) * 1000


def search_times(kb: KnowledgeBase, queries: list[str], mode: str) -> tuple[float, float]:
    return timed([lambda q=q: kb.search(q, 10, mode=mode) for q in queries])


def engine_times(kb: KnowledgeBase, queries: list[str], mode: str) -> tuple[float, float]:
    """The engine alone: plain pymilvus on rankwise's own collection, with the query's
    vector and BM25 terms made beforehand, the same limits and output fields; hybrid is
    Milvus's own `hybrid_search` of both legs at rankwise's depth with a WeightedRanker."""
    from pymilvus import AnnSearchRequest, WeightedRanker
    from rankwise.tools.adapters.milvus import OUTPUT_FIELDS

    store, depth = kb.store, kb.settings.hybrid_depth
    vectors = [kb.embedder.embed_query(q) for q in queries]
    terms = [store.analyzer.analyze(q) if store.analyzer else q for q in queries]
    dense = {"metric_type": "COSINE", "params": {"ef": 128}}
    bm25 = {"metric_type": "BM25"}

    def search(data: object, field: str, params: dict) -> object:
        return store.client.search(store.name, data=[data], anns_field=field, limit=10,
                                   output_fields=OUTPUT_FIELDS, search_params=params)

    def hybrid(vector: list[float], words: str) -> object:
        return store.client.hybrid_search(
            store.name, [AnnSearchRequest([vector], "vector", dense, depth),
                         AnnSearchRequest([words], "sparse", bm25, depth)],
            WeightedRanker(0.7, 0.3), limit=10, output_fields=OUTPUT_FIELDS)

    calls = {"dense": [lambda v=v: search(v, "vector", dense) for v in vectors],
             "lexical": [lambda t=t: search(t, "sparse", bm25) for t in terms],
             "hybrid": [lambda v=v, t=t: hybrid(v, t) for v, t in zip(vectors, terms)]}
    return timed(calls[mode])


@contextmanager
def milvus(tmp: str, name: str, server: bool, uri: str | None = None,
           pid: int | None = None) -> Iterator[tuple[str, int | None]]:
    """A Milvus Lite file, milvus-lite's server on its own data directory, or the server at
    `uri` (each with its server's pid, where known)."""
    if uri:
        yield uri, pid
        return
    if not server:
        yield str(Path(tmp, f"{name}.db")), None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(Path(tmp, name)),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait()


def anchor(steps: list[int], uri: str) -> list[float]:
    """Plain pymilvus: rows per second for each step, same batches, a flush after each;
    the index rankwise makes there (HNSW on Milvus Lite, AUTOINDEX on a server), default
    parameters, and BM25 where the server has it."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient
    from rankwise.tools.adapters.milvus import probe

    client = MilvusClient(uri)
    kind = probe(client, Settings(milvus_uri=uri).milvus_is_local)
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.VARCHAR, max_length=64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=384)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="HNSW" if kind.lite else "AUTOINDEX",
                    metric_type="COSINE")
    if kind.bm25:
        schema.add_field("text", DataType.VARCHAR, max_length=65535, enable_analyzer=True)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["text"], output_field_names=["sparse"]))
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    else:
        schema.add_field("text", DataType.VARCHAR, max_length=65535)
    client.create_collection(ANCHOR, schema=schema, index_params=index)
    embedder = DeterministicFakeEmbedding(size=384)
    rates, done = [], 0
    for step in steps:
        started = time.perf_counter()
        for start in range(done, step, BATCH):
            batch = texts(start, min(step, start + BATCH))
            client.insert(ANCHOR, [{"id": f"{start + n:032x}", "vector": v, "text": t}
                                     for n, (t, v) in enumerate(zip(
                                         batch, embedder.embed_documents(batch)))])
            client.flush(ANCHOR)
        rates.append((step - done) / (time.perf_counter() - started))
        done = step
    client.close()  # no drop: Milvus Lite's server can fail one while it still indexes
    return rates


def ingest(kb: KnowledgeBase, start: int, stop: int) -> float:
    """Seconds to add rows start..stop in batches, each row its own source."""
    started = time.perf_counter()
    for first in range(start, stop, BATCH):
        batch = texts(first, min(stop, first + BATCH))
        kb.add_texts(batch, [{"source": f"doc{first + n}"} for n in range(len(batch))])
    return time.perf_counter() - started


def drop_earlier(uri: str) -> None:
    """An earlier run's collections on a server of the user's."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri)
    for name in client.list_collections():
        if name.startswith(PREFIX):
            client.drop_collection(name)
    client.close()


def measure(steps: list[int], server: bool, uri: str | None = None,
            pid: int | None = None) -> dict:
    queries = [row["text"][:60] for row in corpus(40)]
    if uri:
        drop_earlier(uri)
    with tempfile.TemporaryDirectory() as tmp:
        with milvus(tmp, "anchor", server, uri, pid) as (at, _), \
                ProcessPoolExecutor(1, mp_context=get_context("spawn")) as apart:
            # in a fresh process of its own: its memory and threads are not rankwise's
            anchor_rates = apart.submit(anchor, steps, at).result()
        with milvus(tmp, "scale", server, uri, pid) as (at, server_pid):
            settings = Settings(milvus_uri=at, collection=PREFIX,
                                lexical_weight=0.3)  # no calibration: measure ingest alone
            kb = KnowledgeBase(settings, embeddings=DeterministicFakeEmbedding(size=384))
            kind = kb.store.capabilities
            where = ("Milvus Lite" if not (server or uri) else
                     "milvus-lite server" if kind.lite else f"Milvus {kind.version}")
            modes = MODES if kind.bm25 else ("dense",)
            results: dict = {"steps": [], "where": where}
            # the collection is made by one row before the clock starts: a server takes
            # seconds to create, index and load one, which is not ingest throughput
            done, first_rate = 1, None
            ingest(kb, 0, 1)
            print(f"{where}\n{'chunks':>8} {'chunks/s':>9} {'x first':>8} {'x anchor':>9} "
                  + " ".join(f"{mode + ' p50/p95':>15}" for mode in modes)
                  + f" {'peak MB':>8} {'server MB':>9}", flush=True)
            for step, anchor_rate in zip(steps, anchor_rates):
                rate = (step - done) / ingest(kb, done, step)
                first_rate = first_rate or rate
                done = step
                time.sleep(10 + step / 5_000)  # let Milvus finish indexing in the background
                cells = {mode: search_times(kb, queries, mode) for mode in modes}
                engine = {mode: engine_times(kb, queries, mode) for mode in modes}
                row = {"chunks": step, "rate": rate, "x_first": rate / first_rate,
                       "x_anchor": rate / anchor_rate, "peak_mb": peak_mb(),
                       "server_mb": peak_mb(server_pid) if server_pid else None,
                       **{f"{mode}_p50": cells[mode][0] for mode in modes},
                       **{f"{mode}_p95": cells[mode][1] for mode in modes},
                       **{f"engine_{mode}_p50": engine[mode][0] for mode in modes}}
                results["steps"].append(row)
                server_mb = f"{row['server_mb']:.0f}" if server_pid else "-"
                print(f"{step:>8} {rate:>9.0f} {row['x_first']:>8.2f} {row['x_anchor']:>9.2f} "
                      + " ".join(f"{cells[m][0]:>7.1f}/{cells[m][1]:<7.1f}" for m in modes)
                      + f" {row['peak_mb']:>8.0f} {server_mb:>9}", flush=True)
                print(f"{'':>8} plain pymilvus p50: " + ", ".join(
                    f"{m} {engine[m][0]:.1f} ms (rankwise {cells[m][0] / engine[m][0]:.2f}x)"
                    for m in modes), flush=True)
            again = ingest(kb, 0, done)
            first_time = sum((b["chunks"] - a) / b["rate"] for a, b in zip(
                [1, *steps], results["steps"]))
            results["reingest"] = {"seconds": again, "x_first": again / first_time}
            print(f"unchanged re-ingest of {done} chunks: {again:.1f} s "
                  f"({again / first_time:.3f}x the first ingest's {first_time:.0f} s)")
            kb.close()
    return results


def plot(runs: list[dict], path: str) -> None:
    """Ingest throughput (x first step) and search p50 per mode against the collection size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for run in runs:
        where = run["where"]
        chunks = [row["chunks"] for row in run["steps"]]
        left.plot(chunks, [row["x_first"] for row in run["steps"]], marker="o",
                  label=f"rankwise, {where}")
        left.plot(chunks, [row["x_anchor"] for row in run["steps"]], marker="x",
                  linestyle=":", label=f"rankwise / plain pymilvus, {where}")
        for mode in MODES:
            if f"{mode}_p50" in run["steps"][0]:
                right.plot(chunks, [row[f"{mode}_p50"] for row in run["steps"]], marker="o",
                           linestyle="-" if where == "Milvus Lite" else "--",
                           label=f"{mode}, {where}")
    left.axhline(0.8, color="grey", linewidth=0.8, linestyle="--")
    left.set(xscale="log", xlabel="chunks in the collection", ylim=(0, 1.4),
             ylabel="ingest throughput (x first step)", title="Ingest")
    right.set(xscale="log", yscale="log", xlabel="chunks in the collection",
              ylabel="search p50 (ms)", title="Search, top 10")
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3k, 10k and 30k chunks")
    parser.add_argument("--steps", type=int, nargs="+")
    parser.add_argument("--server", action="store_true",
                        help="milvus-lite's server in its own process, not a Lite file")
    parser.add_argument("--uri", help="a Milvus server already running (its rankwise_bench* "
                        "collections are dropped)")
    parser.add_argument("--server-pid", type=int, help="that server's pid, for its memory")
    parser.add_argument("--save", help="append this run's figures to a JSON file")
    parser.add_argument("--plot", help="draw the runs saved in --save to this image")
    options = parser.parse_args()
    if options.plot and options.save and not options.steps and not options.quick:
        plot(json.loads(Path(options.save).read_text()), options.plot)
        return
    steps = options.steps or ([3_000, 10_000, 30_000] if options.quick
                              else [10_000, 30_000, 100_000, 300_000])
    results = measure(steps, options.server, options.uri, options.server_pid)
    if options.save:
        saved = Path(options.save)
        runs = json.loads(saved.read_text()) if saved.exists() else []
        saved.write_text(json.dumps([*runs, results], indent=1))
        if options.plot:
            plot([*runs, results], options.plot)


if __name__ == "__main__":
    main()
