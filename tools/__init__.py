"""rankwise.tools: ingest documents into Milvus with Ollama embeddings, search them, rerank
them with an LLM, and hand the results to agents as LangChain tools.

Names load on first use (PEP 562), so `import rankwise.tools` stays cheap; Milvus and
Ollama clients are imported only when a command needs them.
"""

from importlib import import_module
from typing import Any

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

_LAZY = {
    "compile_filter": ".filters",
    "Hit": ".hits",
    "format_hits": ".hits",
    "IngestReport": ".ingest",
    "KnowledgeBase": ".knowledge_base",
    "Reranker": ".rerank",
    "RerankResult": ".rerank",
    "RerankTool": ".rerank",
    "KnowledgeBaseRetriever": ".retrieve",
    "RetrieveInput": ".retrieve",
    "RetrieveTool": ".retrieve",
    "Settings": ".settings",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "DimensionMismatchError",
    "EmptyQueryError",
    "FilterError",
    "ModelNotFoundError",
    "OllamaRequestError",
    "OllamaUnavailableError",
    "RankwiseError",
    "StoreError",
    "StoreLockedError",
    *_LAZY,
]
