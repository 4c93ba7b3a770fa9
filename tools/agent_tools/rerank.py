"""The `rerank` LangChain tool: ToolCall in, ToolMessage with passages and the result out.

No `from __future__ import annotations`, for the reason given in
`rankwise.tools.agent_tools.retrieve`.
"""

import asyncio
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ConfigDict, Field

from ..core.vocabulary import MAX_RERANK_N, MAX_TOOL_K, Hit, format_hits
from ..services.knowledge_base import KnowledgeBase
from ..services.rerank import Reranker, RerankResult
from . import ToolArtifact, artifact
from .base import RankwiseTool, expected_errors


class RerankInput(BaseModel):
    """Arguments of the `rerank` tool, as the model sees them."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    query: str
    """The question the passages should answer."""
    ids: list[str] | None = None
    """Ids of passages returned by `retrieve`, to reorder. Omit them to search the
    knowledge base and rerank its top candidates in one step."""
    k: int | None = Field(None, ge=1, le=MAX_TOOL_K)
    """How many passages to keep."""


class RerankTool(RankwiseTool):
    """Reorder passages with an LLM; content = the best passages, artifact = the result."""

    name: str = "rerank"
    description: str = (
        "Reorder passages by relevance to a question with a careful reader and keep the "
        "best. Pass the ids from `retrieve`, or only the question to search and rerank."
    )
    args_schema: type[BaseModel] = RerankInput
    knowledge_base: KnowledgeBase
    """The knowledge base the passages come from."""
    reranker: Reranker
    """The reranker that orders them."""
    top_n: int = Field(20, ge=1, le=MAX_RERANK_N)
    """Candidates searched when the call gives no ids."""

    def _candidates(self, query: str, ids: list[str] | None) -> list[Hit]:
        if ids:
            return self.knowledge_base.get(ids)
        return self.knowledge_base.search(query, self.top_n)

    @staticmethod
    def _output(result: RerankResult) -> tuple[str, ToolArtifact]:
        details = result.model_dump(exclude={"hits", "query"})
        return format_hits(result.hits), artifact(result.query, result.hits, details)

    @staticmethod
    def _config(run_manager: Any) -> RunnableConfig | None:
        return {"callbacks": run_manager.get_child()} if run_manager else None

    @expected_errors
    def _run(
        self,
        query: str,
        ids: list[str] | None = None,
        k: int | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> tuple[str, ToolArtifact]:
        hits = self._candidates(query, ids)
        return self._output(self.reranker.rerank(query, hits, k, self._config(run_manager)))

    @expected_errors
    async def _arun(
        self,
        query: str,
        ids: list[str] | None = None,
        k: int | None = None,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> tuple[str, ToolArtifact]:
        hits = await asyncio.to_thread(self._candidates, query, ids)
        result = await self.reranker.arerank(query, hits, k, self._config(run_manager))
        return self._output(result)
