"""rankwise.tools: ingest documents into Milvus with Ollama embeddings, search them, rerank
them with an LLM, and hand the results to agents as LangChain tools.

Names load on first use (PEP 562), so `import rankwise.tools` stays cheap; Milvus and
Ollama clients are imported only when a command needs them.
"""

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
from .lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


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
