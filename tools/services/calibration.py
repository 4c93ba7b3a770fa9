"""Measuring how well each search leg reads a collection (see `core/calibration.py`).

One sample of the collection is read with its vectors. Its first chunks are stripped of a
sentence and embedded again, and both legs rank the whole sample in memory. No Milvus
search runs, so a calibration never waits on an index that Milvus is still building after
an ingest, and it costs two embedding requests (more where the settings bound a request
below the sample).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from ..core.calibration import (
    METHOD,
    MIN_CHUNKS,
    POOL,
    SAMPLE,
    Calibration,
    bm25_scores,
    cloze,
    lexical_share,
    mean_reciprocal_rank,
)
from ..core.chunking import embedded_text

if TYPE_CHECKING:
    from ..adapters.milvus import MilvusStore
    from ..adapters.models import GuardedEmbeddings


def measure_legs(store: MilvusStore, embedder: GuardedEmbeddings, depth: int,
                 batch_size: int, batch_chars: int) -> Calibration | None:
    """Each leg's inverse-cloze MRR on the collection, the dense floor, and the BM25 share
    for hybrid searches fusing each leg's best `depth`, embedding at most `batch_size`
    texts and `batch_chars` characters a request; None where there is no BM25 leg, too
    little text, or no chunk long enough to ask about."""
    if not store.lexical or (chunks := store.count()) < MIN_CHUNKS:
        return None
    pool = store.sample(POOL)
    asked = [(n, *pair) for n, (hit, _) in enumerate(pool[:SAMPLE])
             if (pair := cloze(hit.text)) is not None]
    if not asked:
        return None
    headings = [str(hit.metadata.get("headings", "")) for hit, _ in pool]
    texts = [hit.text for hit, _ in pool]
    vectors = [vector for _, vector in pool]
    def embedded(embed: Callable[[list[str]], list[list[float]]],
                 texts: list[str]) -> list[list[float]]:
        return [v for batch in _bounded(texts, batch_size, batch_chars) for v in embed(batch)]

    stripped = embedded(embedder.embed_documents,
                        [embedded_text(headings[n], rest) for n, _, rest in asked])
    for (n, _, rest), vector in zip(asked, stripped):
        texts[n], vectors[n] = rest, vector
    queries = [query for _, query, _ in asked]
    targets = [n for n, _, _ in asked]

    terms = store.analyzer.terms if store.analyzer is not None else str.split
    lexical = bm25_scores([terms(q) for q in queries],
                          [terms(f"{context}\n{text}") for context, text in zip(headings, texts)])
    dense = _cosines(embedded(embedder.embed_queries, queries), vectors)
    floor = float(np.median(dense))
    share, fused = lexical_share(dense, lexical, targets, floor, depth)
    return Calibration(dense_mrr=mean_reciprocal_rank(dense, targets),
                       lexical_mrr=mean_reciprocal_rank(lexical, targets),
                       queries=len(asked), chunks=chunks, method=METHOD, dense_floor=floor,
                       lexical_share=share, fused_mrr=fused)


def _bounded(texts: list[str], size: int, chars: int) -> Iterator[list[str]]:
    """`texts` in order, in groups of at most `size` texts and `chars` characters (a text
    longer than that alone)."""
    group: list[str] = []
    for text in texts:
        if group and (len(group) >= size or sum(map(len, group)) + len(text) > chars):
            yield group
            group = []
        group.append(text)
    if group:
        yield group


def _cosines(queries: list[list[float]], documents: list[list[float]]) -> list[list[float]]:
    """Every query's cosine with every document."""
    q, d = np.asarray(queries, dtype=np.float64), np.asarray(documents, dtype=np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return (q @ d.T).tolist()
