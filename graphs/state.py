"""The state the rankwise graph carries from node to node."""

from __future__ import annotations

from typing import Any

from langgraph.graph import MessagesState


class RagState(MessagesState, total=False):
    """`messages` as in `MessagesState`, plus what one question goes through."""

    question: str                  # the latest human question
    standalone: str                # the question made to stand alone (follow-ups condensed)
    query: str                     # what is searched: the standalone question, or a rewrite
    candidates: list[dict[str, Any]]   # retrieved hits (top-N)
    passages: list[dict[str, Any]]     # reranked hits (top-K), numbered [1].. in the prompt
    answer: str
    citations: list[dict[str, Any]]    # the passages the answer cites, in citation order
    rewrites: int                  # query rewrites made for this question
    invalid_citations: int         # citations to passages that were not given, removed
    warnings: list[str]            # what the user should know: fallbacks, rewrites, removals
