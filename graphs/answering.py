"""`ask`: one question through the graph, answer and sources back."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessageChunk, HumanMessage
from langgraph.graph.state import CompiledStateGraph
from rankwise.tools.core.vocabulary import require_text

from .builder import build_graph

ANSWERING_NODES = ("generate", "agent")


@dataclass
class Answer:
    """The answer text, the passages it cites, what happened on the way (`warnings`:
    rerank fell back, the query was rewritten, citations removed, nothing relevant), the
    question as searched (`standalone`: a follow-up made to stand alone), and the thread
    to ask follow-ups on."""

    text: str
    citations: list[dict[str, Any]]
    passages: list[dict[str, Any]]
    thread_id: str
    invalid_citations: int = 0
    warnings: list[str] = field(default_factory=list)
    standalone: str = ""
    state: dict[str, Any] = field(default_factory=dict, repr=False)


def _answer(state: dict[str, Any], thread: str) -> Answer:
    return Answer(text=state.get("answer", ""), citations=state.get("citations", []),
                  passages=state.get("passages", []), thread_id=thread,
                  invalid_citations=state.get("invalid_citations", 0),
                  warnings=state.get("warnings", []),
                  standalone=state.get("standalone", ""), state=state)


def _start(question: str, graph: CompiledStateGraph | None, thread_id: str | None,
           build: dict[str, Any]) -> tuple[CompiledStateGraph, str, dict, dict]:
    require_text(question, "question")
    thread = thread_id or uuid.uuid4().hex
    return (graph or build_graph(**build), thread, {"messages": [HumanMessage(question)]},
            {"configurable": {"thread_id": thread}})


def ask(question: str, graph: CompiledStateGraph | None = None, *,
        thread_id: str | None = None, **build: Any) -> Answer:
    """Ask the knowledge base. Without `graph`, one is built from `build`'s arguments."""
    graph, thread, inputs, config = _start(question, graph, thread_id, build)
    return _answer(graph.invoke(inputs, config), thread)


async def aask(question: str, graph: CompiledStateGraph | None = None, *,
               thread_id: str | None = None, **build: Any) -> Answer:
    """Async `ask`."""
    graph, thread, inputs, config = _start(question, graph, thread_id, build)
    return _answer(await graph.ainvoke(inputs, config), thread)


def stream_ask(question: str, graph: CompiledStateGraph | None = None, *,
               on_token: Callable[[str], object], thread_id: str | None = None,
               **build: Any) -> Answer:
    """`ask`, handing the answer's tokens to `on_token` as the model produces them."""
    graph, thread, inputs, config = _start(question, graph, thread_id, build)
    state: dict[str, Any] = {}
    for mode, payload in graph.stream(inputs, config, stream_mode=["messages", "values"]):
        if mode == "values":
            state = payload  # the last one is the final state; no checkpointer needed
            continue
        chunk, meta = payload
        if (isinstance(chunk, AIMessageChunk) and chunk.content
                and meta.get("langgraph_node") in ANSWERING_NODES):
            on_token(chunk.text)
    return _answer(state, thread)
