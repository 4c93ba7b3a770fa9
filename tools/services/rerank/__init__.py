"""rankwise.tools.services.rerank: reorder retrieved passages with any chat model."""

from .prompts import RerankPrompts
from .records import CallRecord, RerankResult
from .reranker import Reranker

__all__ = ["CallRecord", "RerankPrompts", "RerankResult", "Reranker"]
