"""rankwise.graphs: a LangGraph state machine routing between retrieval, rerank and
generation, plus `ask` and offline drawing. Names load on first use (PEP 562)."""

from typing import TYPE_CHECKING

from rankwise.tools.core.lazy import lazy_exports

if TYPE_CHECKING:  # what type checkers see; at run time the names load on first use
    from .answering import Answer, aask, ask, astream_ask, stream_ask
    from .builder import Mode, build_graph
    from .citations import check_citations
    from .draw import run_path, show, to_dot, to_mermaid, to_png
    from .state import ChatInput, ChatOutput, RagState, RunContext
    from .tool import AskKnowledgeBaseTool

_LAZY = {
    "Answer": ".answering",
    "aask": ".answering",
    "ask": ".answering",
    "stream_ask": ".answering",
    "astream_ask": ".answering",
    "Mode": ".builder",
    "build_graph": ".builder",
    "check_citations": ".citations",
    "show": ".draw",
    "run_path": ".draw",
    "to_dot": ".draw",
    "to_mermaid": ".draw",
    "to_png": ".draw",
    "RagState": ".state",
    "ChatInput": ".state",
    "ChatOutput": ".state",
    "RunContext": ".state",
    "AskKnowledgeBaseTool": ".tool",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = list(_LAZY)
