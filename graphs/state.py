"""The state the rankwise graph carries from node to node, what a client sends and gets
back, and the choices a run may make (LangGraph's runtime context)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph import MessagesState, add_messages
from rankwise.tools.core.vocabulary import SearchMode, Strategy
from typing_extensions import TypedDict


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


class ChatInput(TypedDict, total=False):
    """What a client sends: chat messages, or one `question` (a new human message)."""

    messages: Annotated[list[AnyMessage], add_messages]
    question: str


class ChatOutput(TypedDict, total=False):
    """What a client gets back: the conversation, the answer and what it rests on."""

    messages: Annotated[list[AnyMessage], add_messages]
    answer: str
    citations: list[dict[str, Any]]
    passages: list[dict[str, Any]]
    warnings: list[str]
    standalone: str


@dataclass
class RunContext:
    """Choices one run may make, each defaulting to the graph's own (LangGraph Studio
    shows them as controls; a client passes them as the run's `context`). The pipeline
    honours them all; the agentic graph refuses them."""

    strategy: Strategy | None = None
    """Rerank strategy: pointwise, listwise, tournament, pairwise, cross_encoder, none."""
    top_n: int | None = None
    """Candidates retrieved for the rerank."""
    top_k: int | None = None
    """Passages kept for the answer."""
    search_mode: SearchMode | None = None
    """hybrid, dense or lexical."""
    filter: dict[str, Any] | None = None
    """Conditions every passage must meet, e.g. {"source": "guide.md"}."""
    tenant: str | None = None
    """Whose part of a shared collection is searched (anyone who can start runs can pick
    any tenant: pin it with the server's authentication)."""
