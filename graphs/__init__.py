"""rankwise.graphs: a LangGraph state machine routing between retrieval, rerank and
generation, plus `ask` and offline drawing. Names load on first use (PEP 562)."""

from rankwise.tools.core.lazy import lazy_exports

_LAZY = {
    "Answer": ".answering",
    "aask": ".answering",
    "ask": ".answering",
    "stream_ask": ".answering",
    "Mode": ".builder",
    "build_graph": ".builder",
    "check_citations": ".citations",
    "show": ".draw",
    "to_dot": ".draw",
    "to_mermaid": ".draw",
    "to_png": ".draw",
    "RagState": ".state",
    "AskKnowledgeBaseTool": ".tool",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = list(_LAZY)
