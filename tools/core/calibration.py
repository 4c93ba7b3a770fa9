"""How well each leg of a hybrid search reads a collection, measured without judgements.

A known-item check (the pseudo-queries of Bruch et al.'s calibration idea, and of
known-item evaluation): a sentence taken from a chunk is the query, that chunk the item
to find. Each leg's mean reciprocal rank over a sample of chunks says how well it reads
this collection: an embedding model that does not know the language finds few of the
chunks from their own sentences, BM25 over a language it cannot segment finds few too.
The fusion weights are the default shares scaled by each leg's MRR over the better leg's,
so a leg that reads the collection as well as the other keeps its default share.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from .chunking import estimate_tokens

DEFAULT_SHARES = {"dense": 0.7, "lexical": 0.3}
"""The fusion shares of a collection both legs read equally well, or not yet calibrated."""
SAMPLE = 48  # chunks asked for their own sentences
MIN_CHUNKS = 8  # fewer chunks than this are not worth calibrating
QUERY_TOKENS = 24  # a pseudo-query is a sentence cut to about this many tokens
CALIBRATION_VERSION = 1
_SENTENCE = re.compile(r"(?<=[。！？；.!?;])\s*|\n+")


def pseudo_query(text: str) -> str | None:
    """The start of the chunk's longest sentence: about `QUERY_TOKENS` tokens, and never
    more than 60% of the chunk (a query that is the whole chunk would find it by identity,
    not by reading); None for a chunk too short to ask about."""
    sentences = [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]
    longest = max(sentences, key=len, default="")
    limit = min(QUERY_TOKENS, int(0.6 * estimate_tokens(text)))
    if limit < 4 or estimate_tokens(longest) < 4:
        return None
    query = ""
    for word in re.findall(r"\S+", longest):  # whole words, or characters when unspaced
        for piece in ([word] if estimate_tokens(word) <= 4 else list(word)):
            if estimate_tokens(query + piece) > limit:
                return query.strip()
            query += piece if len(piece) == 1 and not piece.isascii() else f" {piece}"
    return query.strip()


@dataclass(frozen=True)
class Calibration:
    """Each leg's known-item MRR on a collection, and the fusion shares that follow."""

    dense_mrr: float
    lexical_mrr: float
    queries: int
    chunks: int  # the collection's size when measured: grown twice as big, measure again
    version: int = CALIBRATION_VERSION

    @property
    def shares(self) -> dict[str, float]:
        """The default shares, each scaled by its leg's MRR over the better leg's."""
        best = max(self.dense_mrr, self.lexical_mrr)
        if best <= 0:
            return dict(DEFAULT_SHARES)
        raw = {"dense": DEFAULT_SHARES["dense"] * self.dense_mrr / best,
               "lexical": DEFAULT_SHARES["lexical"] * self.lexical_mrr / best}
        total = sum(raw.values())
        return {leg: value / total for leg, value in raw.items()}

    def stale(self, chunks: int) -> bool:
        """Whether a collection of `chunks` chunks should be measured again."""
        return (self.version != CALIBRATION_VERSION or chunks >= 2 * self.chunks
                or 2 * chunks <= self.chunks)

    def weak_leg(self) -> str | None:
        """The leg that reads the collection much worse than the other (under half its
        MRR), if one does."""
        if self.dense_mrr < 0.5 * self.lexical_mrr:
            return "dense"
        if self.lexical_mrr < 0.5 * self.dense_mrr:
            return "lexical"
        return None

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)
