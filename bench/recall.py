"""The vector index's recall of the exact top 10, on real vectors.

Vectors are all-MiniLM-L6-v2 embeddings of real text (the real-model cache: trec-dl19-subset
passages and queries, and whatever else it was asked for), 384-d. 300 of them, chosen at
random, are the queries; the rest are stored by rankwise's own store (its index and
parameters, sealed every 1,024 rows as an ingest does). Exact neighbours come from numpy
(cosine over every stored vector). Searches use rankwise's parameters, then a sweep of the
HNSW `ef` to show the margin.

    python bench/recall.py [--rows 60000]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
from _support import REALMODEL, ROOT
from rankwise.tools import Settings
from rankwise.tools.adapters.milvus import MilvusStore, _dense_params

K = 10
QUERIES = 300


def vectors(limit: int) -> np.ndarray:
    cache = ROOT / "bench" / "results" / "realmodel-cache.sqlite"
    if not cache.exists():
        cache = REALMODEL / "cache" / "trec-dl19-subset.sqlite"
    with sqlite3.connect(cache) as db:
        blobs = [row[0] for row in db.execute("SELECT vec FROM v ORDER BY k LIMIT ?", (limit,))]
    return np.stack([np.frombuffer(blob, dtype=np.float32) for blob in blobs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=60_000 + QUERIES)
    options = parser.parse_args()
    every = vectors(options.rows)
    chosen = set(random.Random(0).sample(range(len(every)), QUERIES))
    queries = every[sorted(chosen)]
    stored = every[[n for n in range(len(every)) if n not in chosen]]
    unit = stored / np.linalg.norm(stored, axis=1, keepdims=True)
    exact = [set(np.argsort(-(unit @ (q / np.linalg.norm(q))))[:K].tolist()) for q in queries]
    with tempfile.TemporaryDirectory() as tmp:
        store = MilvusStore(Settings(milvus_uri=str(Path(tmp, "recall.db"))),
                            {"provider": "bench", "model": "all-minilm"})
        for start in range(0, len(stored), 1024):
            store.insert([{"id": str(n), "vector": stored[n].tolist(), "text": f"chunk {n}",
                           "source": f"s{n}", "chunk_index": 0, "metadata": {}}
                          for n in range(start, min(start + 1024, len(stored)))])
            store.flush()
        time.sleep(20)  # Milvus Lite indexes sealed segments in the background

        def recall(params: dict) -> tuple[float, float]:
            found, started = 0, time.perf_counter()
            for query, truth in zip(queries, exact):
                rows = store._search(query.tolist(), "vector", params, K, "", [])
                found += len(truth & {int(row["id"]) for row in rows})
            return found / (K * len(queries)), (time.perf_counter() - started) / len(queries)

        print(f"{len(stored)} stored real vectors (all-MiniLM-L6-v2), {len(queries)} held-out "
              f"queries, recall of the exact top {K}:")
        ours = _dense_params(K)
        score, seconds = recall(ours)
        print(f"  rankwise's parameters {ours['params']}: {score:.4f} ({seconds * 1000:.1f} ms)")
        for ef in (16, 32, 64, 256):
            score, seconds = recall({**ours, "params": {"ef": ef}})
            print(f"  ef {ef:>3}: {score:.4f} ({seconds * 1000:.1f} ms)")
        store.close()


if __name__ == "__main__":
    main()
