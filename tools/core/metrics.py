"""Ranking quality metrics with graded relevance (TREC conventions, linear gains)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def ndcg_at_k(ranking: Sequence[str], grades: Mapping[str, float], k: int = 10) -> float:
    """nDCG@k: DCG of `ranking` over the DCG of the ideal ordering of all judged documents.

    Gains are the grades themselves (as trec_eval's ndcg_cut); unjudged documents count 0.
    """
    def dcg(gains: Sequence[float]) -> float:
        return sum(g / math.log2(rank + 2) for rank, g in enumerate(gains[:k]))

    ideal = dcg(sorted((g for g in grades.values() if g > 0), reverse=True))
    if ideal == 0:
        return 0.0
    return dcg([grades.get(doc, 0.0) for doc in ranking]) / ideal


def recall_at_k(ranking: Sequence[str], grades: Mapping[str, float], k: int,
                threshold: float = 1) -> float:
    """Share of the relevant documents (grade >= threshold) found in the first k."""
    relevant = {doc for doc, g in grades.items() if g >= threshold}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def mrr_at_k(ranking: Sequence[str], grades: Mapping[str, float], k: int = 10,
             threshold: float = 1) -> float:
    """Reciprocal rank of the first relevant document within the first k (0 if none)."""
    for rank, doc in enumerate(ranking[:k], start=1):
        if grades.get(doc, 0.0) >= threshold:
            return 1.0 / rank
    return 0.0
