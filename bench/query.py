"""Query latency: the `retrieve` tool vs a bare embed call plus pymilvus, like for like.

`--mode dense`: the tool's dense search against `MilvusClient.search`. `--mode hybrid`:
the tool's hybrid search (a dense and a BM25 search of `hybrid_depth` each, fused in the
client) against `MilvusClient.hybrid_search` with Milvus's own RRF over the same depths
and the same analysed query terms. Both run against the same collection and the same
Ollama-protocol server, interleaved query by query so that both see the same conditions
(Milvus Lite builds HNSW in the background after inserts; a warm-up phase lets it settle).

    python bench/query.py [--mode dense|hybrid] [--limit 5000] [--repeat 5] [--k 5]
                          [--latency 0.0]

With `--latency 0` the embedding server answers at once, the harshest case for a
fixed overhead; a real model spends milliseconds per query embedding.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from _support import corpus, ollama_server, percentile, queries
from langchain_core.documents import Document
from ollama import Client
from pymilvus import AnnSearchRequest, MilvusClient, RRFRanker
from rankwise.tools import KnowledgeBase, RetrieveTool, Settings

# The parameters rankwise searches with, so the ratio isolates the wrapper's overhead.
SEARCH_PARAMS = {"metric_type": "COSINE", "params": {"ef": 64}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["dense", "hybrid"], default="dense")
    parser.add_argument("--limit", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds the server spends per embedding request")
    options = parser.parse_args()

    documents = [Document(page_content=r["text"], metadata={"source": r["_id"]})
                 for r in corpus(options.limit)]
    texts = [q["text"] for q in queries()]
    with ollama_server("--latency", str(options.latency)) as url, \
            tempfile.TemporaryDirectory() as tmp:
        settings = Settings(ollama_host=url, milvus_uri=str(Path(tmp, "kb.db")))
        kb = KnowledgeBase(settings)
        kb.add_documents(documents)
        tool = RetrieveTool(knowledge_base=kb, k=options.k, mode=options.mode)
        ollama, milvus = Client(host=url), MilvusClient(settings.milvus_uri)
        fields = ["text", "source", "chunk_index", "metadata"]
        depth = settings.hybrid_depth

        def bare(query: str) -> list:
            prompted = kb.embedder.identity.query_prefix + query  # what rankwise sends
            vector = ollama.embed(settings.embed.name, [prompted])["embeddings"][0]
            if options.mode == "dense":
                return milvus.search(settings.collection, data=[vector], anns_field="vector",
                                     limit=options.k, search_params=SEARCH_PARAMS,
                                     output_fields=fields)
            terms = kb.store.analyzer.analyze(query)
            requests = [AnnSearchRequest([vector], "vector", SEARCH_PARAMS, limit=depth),
                        AnnSearchRequest([terms], "sparse", {"metric_type": "BM25"},
                                         limit=depth)]
            return milvus.hybrid_search(settings.collection, requests, RRFRanker(60),
                                        limit=options.k, output_fields=fields)

        def ours(query: str) -> object:
            return tool.invoke({"name": "retrieve", "args": {"query": query},
                                "id": str(uuid.uuid4()), "type": "tool_call"})

        warm_until = time.perf_counter() + 15
        while time.perf_counter() < warm_until:
            for query in texts[:10]:
                bare(query)
                ours(query)
        timings: dict[str, list[float]] = {"bare": [], "tool": []}
        for _ in range(options.repeat):
            for query in texts:
                for name, fn in (("bare", bare), ("tool", ours)):
                    started = time.perf_counter()
                    fn(query)
                    timings[name].append(time.perf_counter() - started)

    print(f"{options.mode} query latency over {len(timings['tool'])} queries, k={options.k}, "
          f"{len(documents)} passages, server {options.latency * 1000:.0f} ms/request (ms)")
    anchor = "search" if options.mode == "dense" else "hybrid_search"
    for name, label in (("bare", f"embed + MilvusClient.{anchor} (anchor)"),
                        ("tool", "retrieve tool via ToolCall")):
        values = timings[name]
        print(f"  {label:38s} p50 {percentile(values, .5) * 1000:6.2f}   "
              f"p95 {percentile(values, .95) * 1000:6.2f}")
    for fraction, label in ((.5, "p50"), (.95, "p95")):
        ratio = percentile(timings["tool"], fraction) / percentile(timings["bare"], fraction)
        print(f"  {label} ratio tool / anchor: {ratio:.3f}   (goal <= 1.10)")


if __name__ == "__main__":
    main()
