"""Cost as the collection grows: ingest throughput per step, search p50/p95 per mode, an
unchanged re-ingest, and peak memory, from a small collection to a large one.

Vectors come from an in-process `DeterministicFakeEmbedding` (384-d), so the embedding
server costs nothing and what is measured is rankwise and Milvus. Texts are
trec-dl19-subset passages made unique. The anchor is plain pymilvus inserting the same
rows (batches of 10,000, then flush), measured in the same run: rankwise's throughput at
each step is printed as a ratio of its own first step and of the anchor's.

    python bench/scale.py --quick            # 3k -> 10k -> 30k chunks, a few minutes
    python bench/scale.py                    # 10k -> 30k -> 100k -> 300k (Milvus Lite)
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from _support import corpus, percentile
from langchain_core.embeddings import DeterministicFakeEmbedding
from rankwise.tools import KnowledgeBase, Settings

BATCH = 10_000


def texts(total: int) -> list[str]:
    passages = [row["text"] for row in corpus()]
    return [f"{passages[n % len(passages)]} (copy {n // len(passages)})" for n in range(total)]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def search_times(kb: KnowledgeBase, queries: list[str], mode: str) -> tuple[float, float]:
    times = []
    for query in queries:
        started = time.perf_counter()
        kb.search(query, 10, mode=mode)  # type: ignore[arg-type]
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, percentile(times, 0.95) * 1000


def anchor(rows: list[str], steps: list[int], path: str) -> list[float]:
    """Plain pymilvus: rows per second for each step, same batches and flushes."""
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(path)
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.VARCHAR, max_length=64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=384)
    schema.add_field("text", DataType.VARCHAR, max_length=65535)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="COSINE")
    client.create_collection("anchor", schema=schema, index_params=index)
    embedder = DeterministicFakeEmbedding(size=384)
    rates, done = [], 0
    for step in steps:
        started = time.perf_counter()
        for start in range(done, step, BATCH):
            batch = rows[start:min(step, start + BATCH)]
            client.insert("anchor", [{"id": f"{start + n:032x}", "vector": v, "text": t}
                                     for n, (t, v) in enumerate(zip(
                                         batch, embedder.embed_documents(batch)))])
            client.flush("anchor")
        rates.append((step - done) / (time.perf_counter() - started))
        done = step
    client.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3k, 10k and 30k chunks")
    parser.add_argument("--steps", type=int, nargs="+")
    options = parser.parse_args()
    steps = options.steps or ([3_000, 10_000, 30_000] if options.quick
                              else [10_000, 30_000, 100_000, 300_000])
    rows = texts(steps[-1])
    queries = [row["text"][:60] for row in corpus(40)]
    with tempfile.TemporaryDirectory() as tmp:
        anchor_rates = anchor(rows, steps, str(Path(tmp, "anchor.db")))
        settings = Settings(milvus_uri=str(Path(tmp, "scale.db")), collection="scale",
                            lexical_weight=0.3)  # no calibration: measure ingest alone
        kb = KnowledgeBase(settings, embeddings=DeterministicFakeEmbedding(size=384))
        done, first_rate = 0, None
        print(f"{'chunks':>8} {'chunks/s':>9} {'x first':>8} {'x anchor':>9} "
              f"{'dense p50/p95':>14} {'lexical p50/p95':>16} {'hybrid p50/p95':>15} "
              f"{'peak MB':>8}")
        for step, anchor_rate in zip(steps, anchor_rates):
            started = time.perf_counter()
            for start in range(done, step, BATCH):
                batch = rows[start:min(step, start + BATCH)]
                kb.add_texts(batch, [{"source": f"doc{start + n}"} for n in range(len(batch))])
            rate = (step - done) / (time.perf_counter() - started)
            first_rate = first_rate or rate
            done = step
            time.sleep(10)  # let HNSW finish building in the background before searching
            cells = [search_times(kb, queries, mode) for mode in ("dense", "lexical", "hybrid")]
            print(f"{step:>8} {rate:>9.0f} {rate / first_rate:>8.2f} {rate / anchor_rate:>9.2f} "
                  + " ".join(f"{p50:>7.1f}/{p95:<7.1f}" for p50, p95 in cells)
                  + f" {peak_mb():>8.0f}")
        started = time.perf_counter()
        for start in range(0, done, BATCH):
            batch = rows[start:min(done, start + BATCH)]
            kb.add_texts(batch, [{"source": f"doc{start + n}"} for n in range(len(batch))])
        again = time.perf_counter() - started
        print(f"unchanged re-ingest of {done} chunks: {again:.1f} s "
              f"({again / (done / first_rate):.3f}x the first ingest's time at its rate)")
        kb.close()


if __name__ == "__main__":
    main()
