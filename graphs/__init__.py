"""rankwise.graphs: a LangGraph state machine routing between retrieval, rerank and
generation, plus `ask` and offline drawing. Names load on first use (PEP 562)."""

from importlib import import_module
from typing import Any

_LAZY = {
    "Answer": ".answering",
    "aask": ".answering",
    "ask": ".answering",
    "stream_ask": ".answering",
    "Mode": ".builder",
    "build_graph": ".builder",
    "ollama_chat_model": ".builder",
    "check_citations": ".citations",
    "show": ".draw",
    "to_dot": ".draw",
    "to_mermaid": ".draw",
    "to_png": ".draw",
    "RagState": ".state",
    "AskKnowledgeBaseTool": ".tool",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = list(_LAZY)
