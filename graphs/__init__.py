"""rankwise.graphs: a LangGraph state machine routing between retrieval, rerank and
generation, plus `ask` and offline drawing."""

from .ask import Answer, aask, ask, stream_ask
from .builder import Mode, build_graph, ollama_chat_model
from .citations import check_citations
from .draw import show, to_dot, to_mermaid, to_png
from .state import RagState

__all__ = [
    "Answer",
    "Mode",
    "RagState",
    "aask",
    "ask",
    "build_graph",
    "check_citations",
    "ollama_chat_model",
    "show",
    "stream_ask",
    "to_dot",
    "to_mermaid",
    "to_png",
]
