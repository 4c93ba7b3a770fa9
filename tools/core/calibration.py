"""How well each leg of a hybrid search reads a collection, measured without judgements.

The inverse cloze task (Lee, Chang and Toutanova, "Latent Retrieval for Weakly Supervised
Open Domain Question Answering", ACL 2019): a sentence is taken out of a chunk, and the
rest of that chunk is what the sentence must find. A query copied out of the very text it
is to find would let BM25 match its own words verbatim, so that BM25 read every
collection "well" (it did: rankwise's earlier known-item check). Taken out, the sentence
shares with its chunk only what the chunk says around it, as a real question does.

Each sampled chunk, stripped of its sentence, is hidden in a pool of other chunks of the
collection, and each leg ranks the pool for every sentence. The dense leg ranks by cosine,
with the stripped chunks embedded again; the BM25 leg by Milvus's BM25 over rankwise's own
terms. Each leg's mean reciprocal rank says how well it reads this collection. The median
cosine of a sentence with the pool is the dense leg's floor, the score of an unrelated
chunk (see `core/fusion.py`). The BM25 share is the one, of 0, 0.05 ... 1, under which the
fused ranking finds the sentences' chunks best (its MRR); among equals, the nearest to the
default 0.3 scaled by each leg's MRR over the better leg's (so a leg that matches nothing,
and cannot change the fused ranking, gets little): the share is chosen with the fusion,
the depth and the floor that searches use, on questions whose answers are known.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from .chunking import estimate_tokens
from .fusion import normalise, weighted

DEFAULT_SHARES = {"dense": 0.7, "lexical": 0.3}
"""The fusion shares of a collection both legs read equally well, or not yet calibrated."""
SAMPLE = 48  # chunks stripped of a sentence that the sentence must find
POOL = 256  # chunks ranked for each sentence, the stripped ones among them
MIN_CHUNKS = 8  # fewer chunks than this are not worth calibrating
QUERY_TOKENS = 24  # a query is a sentence cut to about this many tokens
MIN_TOKENS = 4  # neither the query nor what is left of the chunk may be shorter
DEPTH = 10  # a chunk ranked below this is not found
METHOD = "inverse cloze"
CALIBRATION_VERSION = 3  # 1: the known-item check (sentences left in their chunks);
# 2: shares scaled by MRR, dense floor 0
LEXICAL_SHARES = tuple(n / 20 for n in range(21))  # the BM25 shares tried
BM25_K1, BM25_B = 1.2, 0.75  # Milvus's defaults
_SENTENCE = re.compile(r"(?<=[。！？；.!?;])\s*|\n+")
_CJK = "\u3000-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"  # with CJK punctuation
_PIECE = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")
_IS_CJK = re.compile(f"[{_CJK}]")


def _pieces(text: str) -> list[str]:
    """Each Chinese, Japanese or Korean character, and every other run of non-space
    characters whole (a word, an identifier, a path)."""
    return _PIECE.findall(text)


def _joined(pieces: Sequence[str]) -> str:
    """The pieces as text: CJK characters side by side, everything else spaced."""
    text = ""
    for piece in pieces:
        side_by_side = not text or (_IS_CJK.fullmatch(text[-1]) and _IS_CJK.fullmatch(piece))
        text += piece if side_by_side else f" {piece}"
    return text


def cloze(text: str) -> tuple[str, str] | None:
    """(query, rest): the chunk's longest sentence as the query, cut to about
    `QUERY_TOKENS` tokens, and the chunk without that sentence. A chunk of one sentence
    is split in two instead: its first half asks, its second half is to be found. None
    for a chunk too short to ask about."""
    sentences = [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]
    longest = max(sentences, key=len, default="")
    if len(sentences) > 1:
        asked, rest = _pieces(longest), text.replace(longest, " ", 1).strip()
    else:
        pieces = _pieces(longest)
        asked, rest = pieces[:len(pieces) // 2], _joined(pieces[len(pieces) // 2:])
    query = ""
    for n in range(1, len(asked) + 1):
        if estimate_tokens(candidate := _joined(asked[:n])) > QUERY_TOKENS:
            break
        query = candidate
    if estimate_tokens(query) < MIN_TOKENS or estimate_tokens(rest) < MIN_TOKENS:
        return None
    return query, rest


def bm25_scores(queries: Sequence[Sequence[str]],
                documents: Sequence[Sequence[str]]) -> list[list[float]]:
    """For each query's terms, the BM25 score of every document's terms, with the pool's
    own document frequencies and lengths (Milvus's formula and parameters)."""
    counts = [Counter(terms) for terms in documents]
    frequency = Counter(term for count in counts for term in count)
    average = sum(map(len, documents)) / max(len(documents), 1) or 1.0
    idf = {term: math.log(1 + (len(documents) - df + 0.5) / (df + 0.5))
           for term, df in frequency.items()}
    norms = [BM25_K1 * (1 - BM25_B + BM25_B * len(terms) / average) for terms in documents]
    return [[sum(idf[t] * count[t] * (BM25_K1 + 1) / (count[t] + norm)
                 for t in set(query) if t in count)
             for count, norm in zip(counts, norms)] for query in queries]


def mean_reciprocal_rank(scores: Sequence[Sequence[float]], targets: Sequence[int]) -> float:
    """The mean over queries of 1 / the rank of its target (0 past `DEPTH`, or where the
    target scores nothing, 0 or less). Ties count against the target."""
    total = 0.0
    for row, target in zip(scores, targets):
        rank = 1 + sum(1 for n, s in enumerate(row) if n != target and s >= row[target])
        total += 1 / rank if rank <= DEPTH and row[target] > 0 else 0.0
    return total / max(len(targets), 1)


def scaled_shares(dense_mrr: float, lexical_mrr: float) -> dict[str, float]:
    """The default shares, each scaled by its leg's MRR over the better leg's."""
    best = max(dense_mrr, lexical_mrr)
    if best <= 0:
        return dict(DEFAULT_SHARES)
    raw = {"dense": DEFAULT_SHARES["dense"] * dense_mrr / best,
           "lexical": DEFAULT_SHARES["lexical"] * lexical_mrr / best}
    return {leg: value / sum(raw.values()) for leg, value in raw.items()}


def lexical_share(dense: Sequence[Sequence[float]], lexical: Sequence[Sequence[float]],
                  targets: Sequence[int], dense_floor: float, depth: int) -> tuple[float, float]:
    """(BM25 share, fused MRR): of `LEXICAL_SHARES`, the share under which fusing each
    query's best `depth` of each leg (BM25 only where a term matched) ranks its target
    best; among equals, the nearest to `scaled_shares`."""
    def best(row: Sequence[float], matched: bool) -> list[tuple[str, float]]:
        order = sorted(range(len(row)), key=lambda n: -row[n])[:depth]
        return [(str(n), row[n]) for n in order if not matched or row[n] > 0]

    asked = []  # the normalised lists don't depend on the share: made once per query
    for d, lex, target in zip(dense, lexical, targets):
        legs = {"dense": normalise(best(d, False), depth, dense_floor),
                "lexical": normalise(best(lex, True), depth)}
        asked.append((legs, {c for leg in legs.values() for c in leg.scores}, str(target)))
    fused = {share: sum(_reciprocal_rank(weighted(legs, {"dense": 1 - share, "lexical": share},
                                                  chunks), target)
                        for legs, chunks, target in asked) / max(len(targets), 1)
             for share in LEXICAL_SHARES}
    top = max(fused.values())
    prior = scaled_shares(mean_reciprocal_rank(dense, targets),
                          mean_reciprocal_rank(lexical, targets))["lexical"]
    chosen = min((share for share, mrr in fused.items() if mrr == top),
                 key=lambda share: abs(share - prior))
    return chosen, top


def _reciprocal_rank(scores: dict[str, float], target: str) -> float:
    """1 / the target's rank as `core.fusion.fuse` orders `scores` (ties by id), 0 past
    `DEPTH` or where it is not among them."""
    if target not in scores:
        return 0.0
    mine = scores[target]
    rank = 1 + sum(1 for chunk, s in scores.items() if s > mine or (s == mine and chunk < target))
    return 1 / rank if rank <= DEPTH else 0.0


@dataclass(frozen=True)
class Calibration:
    """Each leg's MRR on a collection, the dense leg's floor, and the fusion shares."""

    dense_mrr: float
    lexical_mrr: float
    queries: int
    chunks: int  # the collection's size when measured: grown twice as big, measure again
    version: int = CALIBRATION_VERSION
    method: str = "known item"  # what a record without the field was measured by
    dense_floor: float = 0.0  # the cosine of an unrelated chunk (0 in records before it)
    lexical_share: float | None = None  # chosen on the questions (None in older records)
    fused_mrr: float | None = None  # the fused ranking's MRR under that share

    @property
    def shares(self) -> dict[str, float]:
        """The chosen shares; `scaled_shares` for a record made before they were chosen."""
        if self.lexical_share is not None:
            return {"dense": 1 - self.lexical_share, "lexical": self.lexical_share}
        return scaled_shares(self.dense_mrr, self.lexical_mrr)

    @property
    def floors(self) -> dict[str, float]:
        """Each leg's score of an unrelated chunk, for `core.fusion.fuse`."""
        return {"dense": self.dense_floor, "lexical": 0.0}

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

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)
