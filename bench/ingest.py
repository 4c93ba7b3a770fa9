"""Ingest speed: rankwise vs langchain-milvus vs the embedding server alone, same run.

The server simulates a model: a fixed cost per request plus a cost per text, with at
most `--parallel` requests computed at once (Ollama's OLLAMA_NUM_PARALLEL; 1 by default,
as Ollama serving one model on one GPU). rankwise and langchain-milvus get the same server,
one after the other. Embeddings are the tests' bag of words: this measures the pipelines,
not a model.

    python bench/ingest.py [--limit 5000] [--latency 0.02] [--per-item 0.002] [--parallel 1]
                           [--profile]

--profile runs rankwise's ingest under cProfile and prints its top lines by cumulative time
(the profiler's own cost inflates rankwise's ratio in that run).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _support import corpus, ollama_server
from langchain_core.documents import Document
from ollama import Client
from rankwise.tools import KnowledgeBase, Settings


def batches(texts: list[str], count: int, chars: int) -> list[list[str]]:
    """The same batches rankwise sends: bounded by count and by characters."""
    out, batch, size = [], [], 0
    for text in texts:
        if batch and (len(batch) >= count or size + len(text) > chars):
            out.append(batch)
            batch, size = [], 0
        batch.append(text)
        size += len(text)
    return out + ([batch] if batch else [])


def server_alone(url: str, texts: list[str], settings: Settings) -> float:
    """Anchor: only the embedding requests, same batches and concurrency, nothing else."""
    client = Client(host=url)
    started = time.perf_counter()
    with ThreadPoolExecutor(settings.embed_concurrency) as pool:
        list(pool.map(lambda b: client.embed(settings.embed.name, b),
                      batches(texts, settings.embed_batch_size, settings.embed_batch_chars)))
    return time.perf_counter() - started


def rankwise_ingest(settings: Settings, documents: list[Document], profile: bool) -> float:
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    report = KnowledgeBase(settings).add_documents(documents)
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    assert report.sources == len(documents), report
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return elapsed


def langchain_milvus_ingest(url: str, path: str, documents: list[Document]) -> float:
    from langchain_milvus import Milvus
    from langchain_ollama import OllamaEmbeddings

    started = time.perf_counter()
    Milvus.from_documents(documents, OllamaEmbeddings(model="nomic-embed-text", base_url=url),
                          connection_args={"uri": path}, collection_name="langchain")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request")
    parser.add_argument("--per-item", type=float, default=0.002, help="seconds per text")
    parser.add_argument("--parallel", type=int, default=1, help="requests computed at once")
    parser.add_argument("--profile", action="store_true", help="profile rankwise's ingest")
    options = parser.parse_args()

    rows = corpus(options.limit)
    documents = [Document(page_content=r["text"], metadata={"source": r["_id"]}) for r in rows]
    texts = [d.page_content for d in documents]
    server_args = ["--latency", str(options.latency), "--per-item", str(options.per_item),
                   "--parallel", str(options.parallel)]
    with ollama_server(*server_args) as url, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(ollama_host=url, milvus_uri=str(Path(tmp, "rw.db")))
        anchor = server_alone(url, texts, settings)
        ours = rankwise_ingest(settings, documents, options.profile)
        theirs = langchain_milvus_ingest(url, str(Path(tmp, "lc.db")), documents)

    print(f"ingest of {len(documents)} passages (trec-dl19-subset); simulated server: "
          f"{options.latency * 1000:.0f} ms/request + {options.per_item * 1000:.1f} ms/text, "
          f"{options.parallel} computed at once")
    print(f"  embedding server alone  {anchor:7.2f} s   (anchor)")
    print(f"  rankwise                {ours:7.2f} s   {ours / anchor:5.2f} x the server alone"
          "   (goal <= 1.05)")
    print(f"  langchain-milvus        {theirs:7.2f} s   {theirs / anchor:5.2f} x the server alone"
          f"   ({theirs / ours:.2f} x rankwise)")


if __name__ == "__main__":
    main()
