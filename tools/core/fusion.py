"""Fusing the dense and BM25 rankings: a convex combination of min-max normalised scores.

Following Bruch, Gai and Ingber ("An Analysis of Fusion Functions for Hybrid Retrieval",
ACM TOIS 2023): each list's scores are scaled to [0, 1] over the candidates it returned,
and a hit scores the weighted sum, a list that did not return it adding 0. Unlike
reciprocal rank fusion (Cormack et al., SIGIR 2009), which only sees ranks, the scores
keep each list's confidence: a leg whose scores barely separate its candidates (a model
that does not know the language, BM25 on a paraphrase) moves the fused order little, so
a weak leg does not drag a strong one down. bench/retrieval.py measures both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .vocabulary import Hit, LegScore


def _normalised(hits: Sequence[Hit]) -> list[float]:
    if not hits:
        return []
    low, high = min(h.score for h in hits), max(h.score for h in hits)
    return [(h.score - low) / (high - low) if high > low else 1.0 for h in hits]


def fuse(lists: Mapping[str, Sequence[Hit]], weights: Mapping[str, float],
         k: int) -> list[Hit]:
    """The `k` best hits of `lists` (name -> hits, best first) by the weighted sum of their
    normalised scores; each hit says its rank and raw score in every list that found it."""
    fused: dict[str, float] = {}
    legs: dict[str, dict[str, LegScore]] = {}
    first: dict[str, Hit] = {}
    for name, hits in lists.items():
        for rank, (hit, norm) in enumerate(zip(hits, _normalised(hits)), 1):
            fused[hit.id] = fused.get(hit.id, 0.0) + weights[name] * norm
            legs.setdefault(hit.id, {})[name] = LegScore(rank=rank, score=hit.score)
            first.setdefault(hit.id, hit)
    best = sorted(fused, key=lambda i: (-fused[i], i))[:k]
    return [first[i].model_copy(update={"score": fused[i], "scored_by": "fused",
                                        "legs": legs[i]}) for i in best]
