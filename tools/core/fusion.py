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
from dataclasses import dataclass

from .vocabulary import LegScore

Scored = tuple[str, float]
"""A chunk id and its score in one search."""


@dataclass(frozen=True)
class Fused:
    """A chunk's fused score, and its rank and raw score in each search that found it."""

    id: str
    score: float
    legs: dict[str, LegScore]


def _normalised(scored: Sequence[Scored]) -> list[float]:
    if not scored:
        return []
    low, high = min(s for _, s in scored), max(s for _, s in scored)
    return [(s - low) / (high - low) if high > low else 1.0 for _, s in scored]


def fuse(lists: Mapping[str, Sequence[Scored]], weights: Mapping[str, float],
         k: int) -> list[Fused]:
    """The `k` best chunks of `lists` (name -> (id, score), best first) by the weighted sum
    of their normalised scores."""
    fused: dict[str, float] = {}
    legs: dict[str, dict[str, LegScore]] = {}
    for name, scored in lists.items():
        for rank, ((chunk, score), norm) in enumerate(zip(scored, _normalised(scored)), 1):
            fused[chunk] = fused.get(chunk, 0.0) + weights[name] * norm
            legs.setdefault(chunk, {})[name] = LegScore(rank=rank, score=score)
    best = sorted(fused, key=lambda i: (-fused[i], i))[:k]
    return [Fused(i, fused[i], legs[i]) for i in best]
