"""The `retrieve` LangChain tool over a `KnowledgeBase` (its `BaseRetriever` view is
`rankwise.tools.services.retriever`).

No `from __future__ import annotations` here: LangChain reads `_run`'s type hints on
every call, and real annotations spare it an `eval` each time.
"""

from typing import Any

from langchain_core.callbacks import CallbackManagerForToolRun
from pydantic import BaseModel, ConfigDict, Field

from ..core.filters import FilterClause, as_filter_spec
from ..core.vocabulary import MAX_TOOL_K, Condition, SearchMode, format_hits
from ..services.knowledge_base import KnowledgeBase
from . import ToolArtifact, artifact
from .base import RankwiseTool, expected_errors


class RetrieveInput(BaseModel):
    """Arguments of the `retrieve` tool, as the model sees them."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    query: str
    """What to look up, in natural language."""
    k: int | None = Field(None, ge=1, le=MAX_TOOL_K)
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
    k: int = Field(5, ge=1, le=MAX_TOOL_K)
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
