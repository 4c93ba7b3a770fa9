"""Fusing ranked lists: weighted reciprocal rank fusion.

RRF (Cormack, Clarke and Büttcher, SIGIR 2009) scores a hit by the sum over the lists that
found it of weight / (k + rank). Equal weights let a much weaker list pull a strong one
down; a weight per list (as in Bruch, Gai and Ingber, "An Analysis of Fusion Functions for
Hybrid Retrieval", ACM TOIS 2023, who study weighted fusion) keeps the stronger list in
charge while the weaker one still promotes what both lists found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .vocabulary import Hit, LegScore

RRF_K = 60


def fuse(lists: Mapping[str, Sequence[Hit]], weights: Mapping[str, float], k: int,
         rrf_k: int = RRF_K) -> list[Hit]:
    """The `k` best hits of `lists` (name -> hits, best first) by weighted RRF; each hit
    says its rank and score in every list that found it."""
    fused: dict[str, float] = {}
    legs: dict[str, dict[str, LegScore]] = {}
    first: dict[str, Hit] = {}
    for name, hits in lists.items():
        for rank, hit in enumerate(hits, 1):
            fused[hit.id] = fused.get(hit.id, 0.0) + weights[name] / (rrf_k + rank)
            legs.setdefault(hit.id, {})[name] = LegScore(rank=rank, score=hit.score)
            first.setdefault(hit.id, hit)
    best = sorted(fused, key=lambda i: (-fused[i], i))[:k]
    return [first[i].model_copy(update={"score": fused[i], "scored_by": "fused",
                                        "legs": legs[i]}) for i in best]
