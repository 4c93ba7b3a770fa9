"""The cross-encoder stage: a dedicated rerank model scores every candidate, alone or as
a cheap first cut before an LLM strategy (`Reranker(pre="cross_encoder")`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ...adapters.models.rerank_api import RerankAPI
from ...core.vocabulary import Hit
from .calls import truncate
from .records import CallRecord


@dataclass
class CrossEncoded:
    """The candidates in the model's order, its score of each, and its calls."""

    order: list[int]
    scores: dict[int, float] = field(default_factory=dict)
    calls: list[CallRecord] = field(default_factory=list)


async def cross_encode(api: RerankAPI, query: str, hits: Sequence[Hit],
                       passage_chars: int) -> CrossEncoded:
    """Every hit scored by the rerank model; ties keep the retrieval order."""
    scored = await api.score(query, [truncate(hit.text, passage_chars) for hit in hits])
    scores: dict[int, float] = {}
    calls = []
    for number, batch in enumerate(scored):
        scores.update(zip(batch.positions, batch.scores))
        calls.append(CallRecord(strategy="cross_encoder", round=number // api.concurrency,
                                window=batch.positions, latency=batch.latency,
                                prompt_tokens=0, completion_tokens=0, status="ok"))
    order = sorted(range(len(hits)), key=lambda i: (-scores[i], i))
    return CrossEncoded(order, scores, calls)
