"""`KnowledgeBaseRetriever`: a `KnowledgeBase` as LangChain's `BaseRetriever`, taking the
arguments of a vector store's retriever (`kb.as_retriever(...)`).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, model_validator

from ..core.errors import InvalidArgumentError
from ..core.filters import as_filter_spec, compile_filter
from ..core.vocabulary import MAX_TOOL_K, SearchMode, choose
from .knowledge_base import KnowledgeBase

SearchType = Literal["similarity", "hybrid", "similarity_score_threshold"]
_SEARCH_KWARGS = frozenset({"k", "filter", "score_threshold"})


class KnowledgeBaseRetriever(BaseRetriever):
    """A LangChain retriever over a `KnowledgeBase` (Documents carry id, source, score).

    Takes LangChain's vector-store retriever arguments: `search_type` ("similarity",
    "hybrid" or "similarity_score_threshold"; "mmr" is refused: rerank instead) and
    `search_kwargs` (`k`, `filter`, `score_threshold`). A `filter` here and one in
    `search_kwargs` must both hold. Unknown arguments are errors, never ignored.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, use_attribute_docstrings=True,
                              extra="forbid")

    knowledge_base: KnowledgeBase
    """The knowledge base searched."""
    k: int = Field(4, ge=1, le=MAX_TOOL_K)
    """Documents returned."""
    filter: dict[str, Any] | None = None
    """Conditions every document must meet (see `rankwise.tools.FilterSpec`)."""
    mode: SearchMode | None = None
    """hybrid, dense or lexical (default: the knowledge base's `search_mode` setting)."""
    search_type: str | None = None
    """LangChain's name for the search, when given: "similarity" (dense), "hybrid", or
    "similarity_score_threshold" (dense, dropping scores below `score_threshold`)."""
    search_kwargs: dict[str, Any] = Field(default_factory=dict)
    """LangChain's search arguments: `k`, `filter`, `score_threshold`."""

    @model_validator(mode="after")
    def _known_arguments(self) -> KnowledgeBaseRetriever:
        if self.search_type == "mmr":
            raise InvalidArgumentError(
                "search_type 'mmr' is not supported: rankwise diversifies and orders with an "
                "LLM rerank (Reranker / the rerank tool); use 'similarity', 'hybrid' or "
                "'similarity_score_threshold'")
        self._check_kwargs(self.search_kwargs, "search_kwargs")
        if self.search_type is not None:
            choose(self.search_type, get_args(SearchType), "search_type")
            self.mode = "hybrid" if self.search_type == "hybrid" else "dense"
        return self

    @staticmethod
    def _check_kwargs(kwargs: dict[str, Any], where: str) -> None:
        if unknown := sorted(set(kwargs) - _SEARCH_KWARGS):
            raise InvalidArgumentError(f"unknown {where} {unknown}: use "
                                       f"{', '.join(sorted(_SEARCH_KWARGS))}")

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        self._check_kwargs(kwargs, "arguments")
        options = {**self.search_kwargs, **kwargs}
        extra = options.get("filter")
        hits = self.knowledge_base.search(
            query, options.get("k", self.k), self.filter, mode=self.mode,
            raw_filter=compile_filter(as_filter_spec(extra)) or None)
        threshold = options.get("score_threshold")
        if self.search_type == "similarity_score_threshold" and threshold is None:
            raise InvalidArgumentError("search_type 'similarity_score_threshold' needs "
                                       "search_kwargs={'score_threshold': ...}")
        kept = [hit for hit in hits if threshold is None or hit.score >= threshold]
        return [hit.to_document() for hit in kept]
