"""`RankwiseToolkit`: the one place rankwise's tools are built, for every host (the graph,
the crew, the MCP server). LangChain's `BaseToolkit` convention: `get_tools()`."""

from __future__ import annotations

from pathlib import Path

from langchain_core.tools import BaseTool, BaseToolkit
from pydantic import ConfigDict, Field

from ..core.vocabulary import MAX_RERANK_N, MAX_TOOL_K
from ..services.knowledge_base import KnowledgeBase
from ..services.rerank import Reranker
from .admin import DeleteTool, IngestTool, ListSourcesTool
from .rerank import RerankTool
from .retrieve import RetrieveTool


class RankwiseToolkit(BaseToolkit):
    """`retrieve` and `rerank` over one knowledge base; with `admin`, `list_sources` and
    `delete` too; with `ingest_roots`, `ingest` of files under those folders."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    knowledge_base: KnowledgeBase
    reranker: Reranker | None = None
    """The reranker of the `rerank` tool (default: one from the knowledge base's settings)."""
    top_n: int | None = Field(None, ge=1, le=MAX_RERANK_N)
    """Candidates `rerank` searches (default: the `rerank_top_n` setting)."""
    top_k: int | None = Field(None, ge=1, le=MAX_TOOL_K)
    """Passages `retrieve` returns by default (default: the `rerank_top_k` setting)."""
    admin: bool = False
    """Add the tools that list and delete sources."""
    ingest_roots: list[Path] = Field(default_factory=list)
    """Folders the `ingest` tool may read (none: no `ingest` tool)."""

    def get_tools(self) -> list[BaseTool]:
        kb, settings = self.knowledge_base, self.knowledge_base.settings
        tools: list[BaseTool] = [
            RetrieveTool(knowledge_base=kb, k=self.top_k or settings.rerank_top_k),
            RerankTool(knowledge_base=kb, reranker=self.reranker or Reranker(settings),
                       top_n=self.top_n or settings.rerank_top_n),
        ]
        if self.admin:
            tools += [ListSourcesTool(knowledge_base=kb), DeleteTool(knowledge_base=kb)]
        if self.ingest_roots:
            tools.append(IngestTool(knowledge_base=kb, roots=self.ingest_roots))
        return tools
