"""rankwise.tools: ingest documents into Milvus with Ollama embeddings, search them, and
hand the results to agents as LangChain tools."""

from .errors import (
    DimensionMismatchError,
    EmptyQueryError,
    FilterError,
    ModelNotFoundError,
    OllamaRequestError,
    OllamaUnavailableError,
    RankwiseError,
    StoreError,
    StoreLockedError,
)
from .filters import compile_filter
from .hits import Hit, format_hits
from .ingest import IngestReport
from .knowledge_base import KnowledgeBase
from .rerank import Reranker, RerankResult, RerankTool
from .retrieve import KnowledgeBaseRetriever, RetrieveInput, RetrieveTool
from .settings import Settings

__all__ = [
    "DimensionMismatchError",
    "EmptyQueryError",
    "FilterError",
    "Hit",
    "IngestReport",
    "KnowledgeBase",
    "KnowledgeBaseRetriever",
    "ModelNotFoundError",
    "OllamaRequestError",
    "OllamaUnavailableError",
    "RankwiseError",
    "RerankResult",
    "RerankTool",
    "Reranker",
    "RetrieveInput",
    "RetrieveTool",
    "Settings",
    "StoreError",
    "StoreLockedError",
    "compile_filter",
    "format_hits",
]
