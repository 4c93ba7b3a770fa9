"""The `retrieve` LangChain tool and a `BaseRetriever`, both over a `KnowledgeBase`.

No `from __future__ import annotations` here: LangChain reads `_run`'s type hints on
every call, and real annotations spare it an `eval` each time.
"""

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun, CallbackManagerForToolRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field

from ..core.vocabulary import Condition, SearchMode, format_hits
from ..services.knowledge_base import KnowledgeBase
from . import ToolArtifact, artifact

MAX_K = 100


class RetrieveInput(BaseModel):
    """Arguments of the `retrieve` tool, as the model sees them."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    query: str
    """What to look up, in natural language."""
    k: int | None = Field(None, ge=1, le=MAX_K)
    """How many passages to return (default: the tool's)."""
    filter: dict[str, Condition] | None = None
    """Optional conditions on 'source' or metadata fields: a value for equality, a list
    for membership, or operators such as {"$gte": 2, "$lt": 5}."""


class RetrieveTool(BaseTool):
    """Search the knowledge base; content = numbered passages, artifact = the hits."""

    model_config = ConfigDict(arbitrary_types_allowed=True, use_attribute_docstrings=True)

    name: str = "retrieve"
    description: str = (
        "Search the user's documents. Returns numbered passages with their ids and sources; "
        "quote and cite them, and say so when none answers the question."
    )
    args_schema: type[BaseModel] = RetrieveInput
    response_format: str = "content_and_artifact"
    knowledge_base: KnowledgeBase
    """The knowledge base searched."""
    k: int = Field(5, ge=1, le=MAX_K)
    """Passages returned when the call gives no `k`."""
    mode: SearchMode = "dense"
    """Dense search, or hybrid (dense fused with BM25)."""

    def _run(
        self,
        query: str,
        k: int | None = None,
        filter: dict[str, Any] | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> tuple[str, ToolArtifact]:
        hits = self.knowledge_base.search(query, k or self.k, filter, mode=self.mode)
        return format_hits(hits), artifact(query, hits)


class KnowledgeBaseRetriever(BaseRetriever):
    """A LangChain retriever over a `KnowledgeBase` (Documents carry id, source, score)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, use_attribute_docstrings=True)

    knowledge_base: KnowledgeBase
    """The knowledge base searched."""
    k: int = Field(4, ge=1, le=MAX_K)
    """Documents returned."""
    filter: dict[str, Any] | None = None
    """Conditions every document must meet (see `rankwise.tools.FilterSpec`)."""
    mode: SearchMode = "dense"
    """Dense search, or hybrid (dense fused with BM25)."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        hits = self.knowledge_base.search(
            query,
            kwargs.get("k", self.k),
            kwargs.get("filter", self.filter),
            mode=kwargs.get("mode", self.mode),
        )
        return [hit.to_document() for hit in hits]
