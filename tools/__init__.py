"""rankwise.tools: ingest documents into Milvus, search them, rerank them with an LLM,
and hand the results to agents as LangChain tools.

Layout (each layer imports only those before it):
`core` (vocabulary, settings, errors, documents), `adapters` (model providers and
Milvus, one error boundary each), `services` (knowledge base, reranker, evaluation),
`agent_tools` (the LangChain tools and retriever).

Names load on first use (PEP 562), so `import rankwise.tools` stays cheap; Milvus and
model clients are imported only when a command needs them.
"""

from typing import TYPE_CHECKING

from .core.errors import (
    AnalyzerMismatchError,
    CollectionNotFoundError,
    DatasetError,
    DimensionMismatchError,
    EmptyQueryError,
    FilterError,
    InvalidArgumentError,
    InvalidVectorError,
    ModelNotFoundError,
    ModelRequestError,
    ModelUnavailableError,
    OllamaRequestError,
    OllamaUnavailableError,
    ProviderNotInstalledError,
    RankwiseError,
    StoreError,
    StoreLockedError,
    StoreUnavailableError,
    UnreadableFileError,
)
from .core.lazy import lazy_exports

if TYPE_CHECKING:  # what type checkers see; at run time the names load on first use
    from .adapters.models import chat_model
    from .agent_tools.admin import DeleteTool, IngestTool, ListSourcesTool
    from .agent_tools.rerank import RerankInput, RerankTool
    from .agent_tools.retrieve import RetrieveInput, RetrieveTool
    from .agent_tools.toolkit import RankwiseToolkit
    from .core.filters import compile_filter
    from .core.settings import ModelRef, Settings
    from .core.vocabulary import (
        FilterSpec,
        Hit,
        LegScore,
        PreStage,
        RankedHit,
        SearchMode,
        Strategy,
        format_hits,
    )
    from .services.doctor import run_checks
    from .services.evaluation import EvaluationReport, aevaluate, evaluate, load_beir
    from .services.ingest import IngestReport
    from .services.knowledge_base import KnowledgeBase
    from .services.rerank import CallRecord, Reranker, RerankPrompts, RerankResult
    from .services.rerank.compressor import RerankCompressor
    from .services.retriever import KnowledgeBaseRetriever

_LAZY = {
    "FilterSpec": ".core.vocabulary",
    "Hit": ".core.vocabulary",
    "LegScore": ".core.vocabulary",
    "RankedHit": ".core.vocabulary",
    "SearchMode": ".core.vocabulary",
    "Strategy": ".core.vocabulary",
    "PreStage": ".core.vocabulary",
    "format_hits": ".core.vocabulary",
    "compile_filter": ".core.filters",
    "ModelRef": ".core.settings",
    "Settings": ".core.settings",
    "IngestReport": ".services.ingest",
    "KnowledgeBase": ".services.knowledge_base",
    "Reranker": ".services.rerank",
    "RerankPrompts": ".services.rerank",
    "RerankResult": ".services.rerank",
    "CallRecord": ".services.rerank",
    "RerankCompressor": ".services.rerank.compressor",
    "evaluate": ".services.evaluation",
    "run_checks": ".services.doctor",
    "chat_model": ".adapters.models",
    "aevaluate": ".services.evaluation",
    "load_beir": ".services.evaluation",
    "EvaluationReport": ".services.evaluation",
    "KnowledgeBaseRetriever": ".services.retriever",
    "RetrieveInput": ".agent_tools.retrieve",
    "RetrieveTool": ".agent_tools.retrieve",
    "RerankInput": ".agent_tools.rerank",
    "RerankTool": ".agent_tools.rerank",
    "RankwiseToolkit": ".agent_tools.toolkit",
    "IngestTool": ".agent_tools.admin",
    "ListSourcesTool": ".agent_tools.admin",
    "DeleteTool": ".agent_tools.admin",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "AnalyzerMismatchError",
    "CollectionNotFoundError",
    "DatasetError",
    "DimensionMismatchError",
    "EmptyQueryError",
    "FilterError",
    "InvalidArgumentError",
    "InvalidVectorError",
    "ModelNotFoundError",
    "ModelRequestError",
    "ModelUnavailableError",
    "OllamaRequestError",
    "OllamaUnavailableError",
    "ProviderNotInstalledError",
    "RankwiseError",
    "StoreError",
    "StoreLockedError",
    "StoreUnavailableError",
    "UnreadableFileError",
    *_LAZY,
]
