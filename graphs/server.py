"""rankwise on LangGraph Server (`langgraph dev`, LangGraph Platform, Studio): graph
factories named in `langgraph.json`.

    {"dependencies": ["rankwise"],
     "graphs": {"rankwise": "rankwise.graphs.server:make_graph",
                "rankwise-ingest": "rankwise.graphs.server:make_ingest_graph"},
     "env": ".env"}

Settings come from the environment (RANKWISE_*, OLLAMA_HOST). One knowledge base serves
every run of the process; the server keeps the threads (a graph here has no checkpointer
of its own). Clients send `messages` or a `question`, and may choose per run, as its
`context`, the rerank strategy, top_n, top_k, search mode, filter and tenant.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from rankwise.tools import InvalidArgumentError, KnowledgeBase
from rankwise.tools.agent_tools.admin import allowed_path
from typing_extensions import TypedDict

from .builder import build_graph
from .state import ChatInput, ChatOutput

_lock = threading.Lock()
_cache: dict[str, Any] = {}


def knowledge_base() -> KnowledgeBase:
    """The process's knowledge base, from the environment's settings (opened on first
    use; a Milvus Lite file is then held by this server)."""
    with _lock:
        if "kb" not in _cache:
            _cache["kb"] = KnowledgeBase()
        return _cache["kb"]


def make_graph(config: RunnableConfig | None = None) -> CompiledStateGraph:
    """The pipeline graph (retrieve, rerank, answer) for LangGraph Server; built once per
    process, whatever the run's config."""
    kb = knowledge_base()
    with _lock:
        if "graph" not in _cache:
            _cache["graph"] = build_graph(kb, input_schema=ChatInput, output_schema=ChatOutput)
        return _cache["graph"]


class IngestRequest(TypedDict):
    """Files or folders to ingest, inside the `ingest_roots` setting's folders."""

    paths: list[str]


class IngestResult(TypedDict, total=False):
    """The request, and what the ingest did (`IngestReport` as a dict)."""

    paths: list[str]
    summary: str
    report: dict[str, Any]


def make_ingest_graph(config: RunnableConfig | None = None) -> CompiledStateGraph:
    """A one-step graph that ingests files into the served knowledge base, so that the
    server stays the one process writing a Milvus Lite file. Only folders listed in the
    `ingest_roots` setting (RANKWISE_INGEST_ROOTS, a JSON list) can be read."""
    kb = knowledge_base()

    def ingest(state: IngestRequest) -> IngestResult:
        paths = [allowed_path(path, kb.settings.ingest_roots) for path in state["paths"]]
        if not paths:
            raise InvalidArgumentError('send the paths to ingest: {"paths": ["notes/"]}')
        report = kb.ingest(paths)
        return {"summary": report.summary(), "report": dataclasses.asdict(report)}

    graph = StateGraph(IngestResult, input_schema=IngestRequest, output_schema=IngestResult)
    graph.add_node("ingest", ingest)
    graph.add_edge(START, "ingest")
    graph.add_edge("ingest", END)
    return graph.compile(name="rankwise-ingest")
