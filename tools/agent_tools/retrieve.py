"""The `retrieve` LangChain tool and a `BaseRetriever`, both over a `KnowledgeBase`.

No `from __future__ import annotations` here: LangChain reads `_run`'s type hints on
every call, and real annotations spare it an `eval` each time.
"""

from typing import Any, Literal, Union, get_args

from langchain_core.callbacks import CallbackManagerForRetrieverRun, CallbackManagerForToolRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..core.errors import InvalidArgumentError
from ..core.filters import compile_filter
from ..core.vocabulary import Condition, FilterSpec, Scalar, SearchMode, choose, format_hits
from ..services.knowledge_base import KnowledgeBase
from . import ToolArtifact, artifact
from .base import RankwiseTool, expected_errors

MAX_K = 100


class FilterClause(BaseModel):
    """One condition on a field; a model fills these in even under strict tool schemas,
    where a free-form object could only be `{}`."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    field: str
    """'source', 'chunk_index', or a metadata field such as 'lang' or 'page'."""
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
    """How the field compares to the value; 'in' and 'nin' take a list."""
    value: Union[Scalar, list[Scalar]]
    """The value, or the list of values for 'in' and 'nin'."""


def as_filter_spec(clauses: list[FilterClause] | FilterSpec | None) -> FilterSpec | None:
    """Filter clauses (or a filter mapping, as in Python) as a filter mapping."""
    if not isinstance(clauses, list):
        return clauses
    spec: dict[str, dict[str, Any]] = {}
    for clause in clauses:
        clause = FilterClause.model_validate(clause)
        spec.setdefault(clause.field, {})[f"${clause.op}"] = clause.value
    return spec


class RetrieveInput(BaseModel):
    """Arguments of the `retrieve` tool, as the model sees them."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    query: str
    """What to look up, in natural language."""
    k: int | None = Field(None, ge=1, le=MAX_K)
    """How many passages to return (default: the tool's)."""
    filter: list[FilterClause] | dict[str, Condition] | None = None
    """Optional conditions every passage must meet, all at once: a list such as
    [{"field": "source", "op": "eq", "value": "guide.md"}, {"field": "page", "op": "gte",
    "value": 2}]."""


class RetrieveTool(RankwiseTool):
    """Search the knowledge base; content = numbered passages, artifact = the hits."""

    name: str = "retrieve"
    description: str = (
        "Search the user's documents. Returns numbered passages with their ids and sources; "
        "quote and cite them, and say so when none answers the question."
    )
    args_schema: type[BaseModel] = RetrieveInput
    knowledge_base: KnowledgeBase
    """The knowledge base searched."""
    k: int = Field(5, ge=1, le=MAX_K)
    """Passages returned when the call gives no `k`."""
    mode: SearchMode | None = None
    """hybrid, dense or lexical (default: the knowledge base's `search_mode` setting)."""

    @expected_errors
    def _run(
        self,
        query: str,
        k: int | None = None,
        filter: list[FilterClause] | dict[str, Any] | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> tuple[str, ToolArtifact]:
        hits = self.knowledge_base.search(query, k or self.k, as_filter_spec(filter),
                                          mode=self.mode)
        return format_hits(hits), artifact(query, hits)


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
    k: int = Field(4, ge=1, le=MAX_K)
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
    def _known_arguments(self) -> "KnowledgeBaseRetriever":
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
        if threshold is not None:
            hits = [hit for hit in hits if hit.score >= threshold]
        return [hit.to_document() for hit in hits]
