"""The words rankwise speaks, each defined once: search modes, rerank strategies, filters,
hits. Settings, the CLI's choices and the runtime checks all derive from these."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar, Union, get_args

from langchain_core.documents import Document
from pydantic import BaseModel, Field

from .errors import EmptyQueryError, InvalidArgumentError

SearchMode = Literal["hybrid", "dense", "lexical"]
"""How candidates are found: embeddings fused with BM25, embeddings alone, or BM25 alone."""

ScoreKind = Literal["cosine", "bm25", "fused"]
"""What a hit's `score` is: cosine similarity, a BM25 score, or the fused score of a hybrid
search (the weighted sum of both searches' scores, each over its best: 0 to 1, 1 only for
the best hit of both)."""

Strategy = Literal["pointwise", "listwise", "tournament", "pairwise", "cross_encoder", "none"]
"""How candidates are reordered: by an LLM (see `rankwise.tools.services.rerank.strategies`)
or by a dedicated rerank model over the `/v1/rerank` API (`cross_encoder`)."""

PreStage = Literal["cross_encoder"]
"""A cheap first cut before an LLM strategy: the rerank model keeps the best `pre_k`."""

GraphMode = Literal["pipeline", "agentic"]
"""How the graph answers: a fixed retrieve-rerank-answer pipeline, or an agent with tools."""

SEARCH_MODES: tuple[str, ...] = get_args(SearchMode)
GRAPH_MODES: tuple[str, ...] = get_args(GraphMode)
MAX_SEARCH_K = 1000
"""The most chunks one search returns."""
MAX_TOOL_K = 100
"""The most passages a tool or retriever hands a model at once, or a rerank keeps."""
MAX_RERANK_N = 200
"""The most candidates one rerank reads."""
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 4.0
"""Seconds before the first retry of a transient fault, and the most between two."""


def check_window(step: int, window: int, names: tuple[str, str] = ("step", "window")) -> None:
    """A sliding window's step may not exceed the window, or passages between two
    windows are never compared."""
    if step > window:
        raise InvalidArgumentError(
            f"{names[0]} ({step}) must not exceed {names[1]} ({window}), or passages between "
            "windows are never compared")
STRATEGIES: tuple[str, ...] = get_args(Strategy)
LLM_STRATEGIES = ("pointwise", "listwise", "tournament", "pairwise")
"""The strategies that ask an LLM (and may have a pre-stage before them)."""

Scalar = Union[str, int, float, bool]
Condition = Union[Scalar, list[Scalar], dict[str, Union[Scalar, list[Scalar]]]]
FilterSpec = Mapping[str, Condition]
"""Field -> condition: a value (equality), a list (membership) or {"$op": value}."""

T = TypeVar("T", bound=str)


def choose(value: T, allowed: Sequence[str], what: str) -> T:
    """`value` if it is one of `allowed`; otherwise an error naming the choices."""
    if value not in allowed:
        raise InvalidArgumentError(
            f"{what} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def require_text(value: Any, what: str = "query") -> str:
    """`value` if it is a string with something in it; otherwise an `EmptyQueryError`."""
    if not isinstance(value, str) or not value.strip():
        raise EmptyQueryError(f"the {what} is empty: pass the text to {_VERBS.get(what, 'use')}")
    return value


_VERBS = {"query": "search for", "question": "answer"}


class LegScore(BaseModel):
    """Where one search of a hybrid search placed a hit."""

    rank: int
    score: float


class Hit(BaseModel):
    """One retrieved chunk: raw text plus where it came from and how well it matched."""

    id: str
    text: str
    score: float = Field(description="How well it matched; `scored_by` says what it is.")
    source: str
    chunk_index: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)
    scored_by: ScoreKind = "cosine"
    legs: dict[str, LegScore] = Field(
        default_factory=dict,
        description="A fused hit's rank (1-based) and score in each search that found it.")

    @property
    def cosine(self) -> float | None:
        """Its cosine similarity to the query, where a dense search found it: its own
        score, or a fused hit's dense leg; None when only BM25 found it."""
        if self.scored_by == "cosine":
            return self.score
        dense = self.legs.get("dense")
        return dense.score if dense else None

    def to_document(self) -> Document:
        """A LangChain Document whose metadata carries id, source, score and chunk index."""
        return Document(
            id=self.id,
            page_content=self.text,
            metadata={**self.metadata, "id": self.id, "source": self.source,
                      "chunk_index": self.chunk_index, "score": self.score,
                      "scored_by": self.scored_by},
        )


class RankedHit(Hit):
    """A hit after reranking: its new rank, the LLM's score where it gives one, the rerank
    model's score where one ran (`cross_encoder`), and the LLM's reason when asked."""

    rank: int
    rerank_score: float | None = None
    cross_score: float | None = None
    reason: str | None = None


def _fence_pattern(word: str) -> re.Pattern[str]:
    """`<word` or `</word` as a reader sees it: any letter case, fullwidth forms, angle
    bracket look-alikes, and blanks or invisible characters between the parts."""
    invisible = "[\\s\u00ad\u034f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]*"
    letters = invisible.join(
        f"[{c}{c.upper()}{chr(ord(c) - 0x61 + 0xFF41)}{chr(ord(c) - 0x61 + 0xFF21)}]"
        for c in word)
    return re.compile(f"[<\uff1c\ufe64\u2329\u3008\u27e8]{invisible}"
                      f"(?:[/\uff0f\u2215\u2044]{invisible})?{letters}")


_FENCE = _fence_pattern("passage")


def fence(text: str) -> str:
    """Passage text that can neither close its fence nor open another: `<passage` and
    `</passage` inside it, in any disguise (`</ passage>`, fullwidth `＜／passage`,
    zero-width characters between the letters), have their bracket escaped as `&lt;`."""
    return _FENCE.sub(lambda match: "&lt;" + match.group()[1:], text)


def format_hits(hits: Sequence[Hit], start: int = 1) -> str:
    """Numbered passages fenced as data, ready to put in front of an LLM:
    `<passage n="1" id="..." source="..." headings="Guide > Install" score="0.812">text
    </passage>`, numbered from `start`. The header is the fence's opening tag, so no
    passage text can pose as another passage or its header."""
    if not hits:
        return "No passages found."
    return "\n\n".join(
        f'<passage n="{n}" id="{html.escape(hit.id)}" source="{html.escape(hit.source)}"'
        f'{_headings(hit)} score="{hit.score:.3f}">\n{fence(hit.text)}\n</passage>'
        for n, hit in enumerate(hits, start=start)
    )


def _headings(hit: Hit) -> str:
    """The passage's document title and heading path, as an attribute of its fence."""
    headings = hit.metadata.get("headings")
    return f' headings="{html.escape(str(headings))}"' if headings else ""
