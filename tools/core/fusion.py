"""Fusing the dense and BM25 rankings: a convex combination of scores normalised on their
theoretical range.

Following Bruch, Gai and Ingber ("An Analysis of Fusion Functions for Hybrid Retrieval",
ACM TOIS 2023, TM2C2): each list's scores are divided by the best score it returned, from a
floor, not stretched between the pool's own minimum and maximum. The floor is the score of
an unrelated chunk: 0 for BM25; for cosine similarity what the collection's calibration
measured (all-MiniLM scores unrelated English text near 0, multilingual-e5 near 0.76, so a
floor of 0 would squeeze e5's whole ranking into the top quarter of the range and hand the
fusion to BM25). So a leg whose scores barely separate its
candidates (an embedding model that does not read the language: cosines from 0.55 to 0.81)
keeps them close together and moves the fused order little, where min-max normalisation
would stretch the same scores over 0..1 and let noise outvote the other leg. A hit scores
the weighted sum. A list cut at the depth asked for ranked every hit it did not return
below all it returned: such a hit gets that list's lowest normalised score, not 0, so a
leg that gives every candidate about the same score cannot push out what only the other
leg found. A list that ended before the depth returned all it matched: the rest score 0.
bench/retrieval.py measures this against min-max and reciprocal rank fusion on every
judged set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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


@dataclass(frozen=True)
class Normalised:
    """One list's scores in [0, 1], and what a chunk it did not return scores."""

    scores: dict[str, float]
    unlisted: float


def normalise(scored: Sequence[Scored], depth: int, floor: float = 0.0) -> Normalised:
    """Scores above `floor` over the best one's. A list as long as the `depth` asked for
    ranked every chunk it did not return below all it returned: they score its lowest. A
    shorter list returned all it matched: the rest score 0."""
    best = max((s for _, s in scored), default=floor) - floor
    scores = {chunk: max(s - floor, 0.0) / best if best > 0 else 0.0 for chunk, s in scored}
    return Normalised(scores, min(scores.values()) if len(scored) >= depth else 0.0)


def weighted(normalised: Mapping[str, Normalised], weights: Mapping[str, float],
             chunks: Iterable[str]) -> dict[str, float]:
    """Each chunk's weighted sum of its normalised scores."""
    return {chunk: sum(weights[name] * leg.scores.get(chunk, leg.unlisted)
                       for name, leg in normalised.items()) for chunk in chunks}


def fuse(lists: Mapping[str, Sequence[Scored]], weights: Mapping[str, float],
         k: int, depth: int, floors: Mapping[str, float] | None = None) -> list[Fused]:
    """The `k` best chunks of `lists` (name -> (id, score), best first, each asked for its
    best `depth`) by the weighted sum of their normalised scores, each list's from its
    `floors` entry (0 where none is given); `weights` should add up to 1, so a fused score
    is in [0, 1] and 1 only for the best hit of every list."""
    normalised = {name: normalise(scored, depth, (floors or {}).get(name, 0.0))
                  for name, scored in lists.items()}
    legs: dict[str, dict[str, LegScore]] = {}
    for name, scored in lists.items():
        for rank, (chunk, score) in enumerate(scored, 1):
            legs.setdefault(chunk, {}).setdefault(name, LegScore(rank=rank, score=score))
    fused = weighted(normalised, weights, legs)
    best = sorted(fused, key=lambda i: (-fused[i], i))[:k]
    return [Fused(i, fused[i], legs[i]) for i in best]
