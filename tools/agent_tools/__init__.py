"""What agents call: the `retrieve` and `rerank` LangChain tools and a retriever.

Both tools answer a ToolCall with a ToolMessage whose content is numbered passages and
whose artifact has one shape: {"query", "hits": [...], "rerank": {...} or None}.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from typing_extensions import TypedDict  # pydantic reads it on Python < 3.12

from ..core.vocabulary import Hit


class ToolArtifact(TypedDict):
    """The artifact of every rankwise tool: the hits shown, and how they were reranked."""

    query: str
    hits: list[dict[str, Any]]
    rerank: dict[str, Any] | None


def artifact(query: str, hits: Sequence[Hit], rerank: dict[str, Any] | None = None
             ) -> ToolArtifact:
    return {"query": query, "hits": [hit.model_dump() for hit in hits], "rerank": rerank}
