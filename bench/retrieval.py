"""Retrieval quality with a real embedding model: `rankwise eval` dense, BM25 alone and
hybrid, on trec-dl19-subset and on the Chinese set written for rankwise (bench/data/zh-judged),
then the fusion weight swept on the same two searches.

The embedder is all-MiniLM-L6-v2 behind Ollama's protocol (../shared/realmodel, served as
"nomic-embed-text", no embedding prompts). nDCG@10 of the top 20, like the reference figures
in ../shared/realmodel/README.md. The sweep scores rankwise's fusion (a convex combination of
min-max normalised scores, Bruch et al., TOIS 2023) with other BM25 shares, and reciprocal
rank fusion with the BM25 ranking weighted 1, 0.5 and 0.3.

    python bench/retrieval.py [--depth 100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from _support import ROOT, realmodel_server, require_data
from rankwise.tools import Hit, KnowledgeBase, Settings, evaluate, load_beir
from rankwise.tools.core.fusion import fuse
from rankwise.tools.core.metrics import ndcg_at_k

CHINESE = ROOT / "bench" / "data" / "zh-judged"
Fusion = Callable[[Sequence[Hit], Sequence[Hit]], list[str]]


def rrf(weight: float, k: int = 60) -> Fusion:
    """Reciprocal rank fusion (Cormack et al. 2009), the BM25 ranking weighted."""
    def fused(dense: Sequence[Hit], lexical: Sequence[Hit]) -> list[str]:
        score: dict[str, float] = {}
        for hits, share in ((dense, 1.0), (lexical, weight)):
            for rank, hit in enumerate(hits, 1):
                score[hit.id] = score.get(hit.id, 0.0) + share / (k + rank)
        return sorted(score, key=lambda i: -score[i])
    return fused


def convex(lexical_weight: float) -> Fusion:
    """rankwise's fusion with another BM25 share."""
    def fused(dense: Sequence[Hit], lexical: Sequence[Hit]) -> list[str]:
        weights = {"dense": 1 - lexical_weight, "lexical": lexical_weight}
        lists = {"dense": [(h.id, h.score) for h in dense],
                 "lexical": [(h.id, h.score) for h in lexical]}
        return [f.id for f in fuse(lists, weights, len(dense) + len(lexical))]
    return fused


def sweep(kb: KnowledgeBase, queries: Mapping[str, str], qrels: Mapping[str, dict],
          depth: int, fusions: Mapping[str, Fusion]) -> dict[str, float]:
    scores: dict[str, list[float]] = {name: [] for name in fusions}
    for query_id, grades in qrels.items():
        dense = kb.search(queries[query_id], depth, mode="dense")
        lexical = kb.search(queries[query_id], depth, mode="lexical")
        source = {h.id: h.source for h in [*dense, *lexical]}
        for name, fusion in fusions.items():
            ranking = list(dict.fromkeys(source[i] for i in fusion(dense, lexical)[:20]))
            scores[name].append(ndcg_at_k(ranking, grades, 10))
    return {name: statistics.fmean(values) for name, values in scores.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, default=100, help="candidates per search fused")
    options = parser.parse_args()
    fusions: dict[str, Fusion] = {f"RRF k 60, BM25 weight {w}": rrf(w) for w in (1.0, 0.5, 0.3)}
    fusions |= {f"rankwise, BM25 share {w}": convex(w) for w in (0.1, 0.2, 0.3, 0.4, 0.5)}
    with realmodel_server() as url, tempfile.TemporaryDirectory() as tmp:
        for root in (require_data(), CHINESE):
            settings = Settings(ollama_host=url, milvus_uri=str(Path(tmp, f"{root.name}.db")),
                                query_prefix="", document_prefix="",
                                hybrid_depth=options.depth)
            dataset = load_beir(root)
            report = evaluate(dataset, settings, searches=["dense", "lexical", "hybrid"],
                              top_n=20, collection="quality")
            print(f"{report.dataset}: {report.queries} judged queries, nDCG@10 of the top 20, "
                  f"embedder all-MiniLM-L6-v2 (real), fusion depth {options.depth}")
            for row in report.results:
                print(f"  rankwise eval --search {row.name:8s} nDCG@10 {row.ndcg_at_10:.4f}"
                      f"  R@10 {row.recall_at_k:.4f}  MRR@10 {row.mrr_at_10:.4f}"
                      f"  {row.seconds * 1000:6.1f} ms/query")
            dense = report.results[0].ndcg_at_10
            kb = KnowledgeBase(settings, collection="quality")
            qrels = {q: dataset.qrels[q] for q in dataset.judged_queries}
            for name, value in sweep(kb, dataset.queries, qrels, options.depth,
                                     fusions).items():
                print(f"  {name:26s} nDCG@10 {value:.4f}  ({value / dense:.3f}x dense)")
            kb.close()


if __name__ == "__main__":
    main()
