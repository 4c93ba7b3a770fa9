"""`ask`: one question through the graph, answer and sources back."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessageChunk, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StreamMode
from rankwise.tools.core.display import hits_table, short, warnings_list
from rankwise.tools.core.vocabulary import require_text

from .builder import build_graph

ANSWERING_NODES = ("generate", "agent")
RUN: list[StreamMode] = ["updates", "values"]  # the nodes that ran, and the final state
STREAMED: list[StreamMode] = ["messages", *RUN]  # and the answer's tokens


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
    path: list[str] = field(default_factory=list)
    """The nodes this question went through, in order (`show(graph, answer)` draws it)."""

    def __repr__(self) -> str:
        notes = f", {len(self.warnings)} warnings" if self.warnings else ""
        return (f"Answer({short(self.text, 70)!r}, {len(self.citations)} citations{notes}, "
                f"thread {self.thread_id!r})")

    def _repr_html_(self) -> str:
        """The answer with each [n] linked to its passage, the passages it cites folded
        below (source, chunk, score), the warnings, and the question as searched."""
        anchor = f"rw-{uuid.uuid4().hex[:8]}"
        cited = {c["n"]: i for i, c in enumerate(self.citations, start=1)}

        def link(match: re.Match[str]) -> str:
            n = int(match.group(1))
            return (f'<a href="#{anchor}-{cited[n]}">[{n}]</a>' if n in cited
                    else match.group(0))

        text = re.sub(r"\[(\d+)\]", link, html.escape(self.text))
        asked = self.state.get("question", "")
        searched = (f"<p><i>searched as:</i> {html.escape(self.standalone)}</p>"
                    if self.standalone and self.standalone != asked else "")
        by_id = {passage["id"]: passage for passage in self.passages}
        table = hits_table([by_id.get(c["id"], c) for c in self.citations], "cited passages",
                           [f"{anchor}-{i}" for i in range(1, len(self.citations) + 1)],
                           [c["n"] for c in self.citations])
        return (f'<div class="rw"><p style="white-space:pre-wrap">{text}</p>{searched}'
                f"{warnings_list(self.warnings)}{table if self.citations else ''}</div>")


def _answer(state: dict[str, Any], thread: str, path: list[str]) -> Answer:
    return Answer(text=state.get("answer", ""), citations=state.get("citations", []),
                  passages=state.get("passages", []), thread_id=thread,
                  invalid_citations=state.get("invalid_citations", 0),
                  warnings=state.get("warnings", []),
                  standalone=state.get("standalone", ""), state=state, path=path)


def _step(mode: str, payload: Any, state: dict[str, Any], path: list[str]) -> dict[str, Any]:
    """Follow a `["updates", "values"]` stream: the nodes run, and the latest state."""
    if mode == "updates":
        path.extend(node for node in payload if not node.startswith("__"))
        return state
    return payload


def _start(question: str, graph: CompiledStateGraph | None, thread_id: str | None,
           build: dict[str, Any]
           ) -> tuple[CompiledStateGraph[Any, Any, Any, Any], str, dict[str, Any], RunnableConfig]:
    require_text(question, "question")
    thread = thread_id or uuid.uuid4().hex
    return (graph or build_graph(**build), thread, {"messages": [HumanMessage(question)]},
            {"configurable": {"thread_id": thread}})


def ask(question: str, graph: CompiledStateGraph | None = None, *,
        thread_id: str | None = None, **build: Any) -> Answer:
    """Ask the knowledge base. Without `graph`, one is built from `build`'s arguments."""
    graph, thread, inputs, config = _start(question, graph, thread_id, build)
    state: dict[str, Any] = {}
    path: list[str] = []
    for mode, payload in graph.stream(inputs, config, stream_mode=RUN):
        state = _step(mode, payload, state, path)
    return _answer(state, thread, path)


async def aask(question: str, graph: CompiledStateGraph | None = None, *,
               thread_id: str | None = None, **build: Any) -> Answer:
    """Async `ask`."""
    graph, thread, inputs, config = _start(question, graph, thread_id, build)
    state: dict[str, Any] = {}
    path: list[str] = []
    async for mode, payload in graph.astream(inputs, config, stream_mode=RUN):
        state = _step(mode, payload, state, path)
    return _answer(state, thread, path)


def stream_ask(question: str, graph: CompiledStateGraph | None = None, *,
               on_token: Callable[[str], object], thread_id: str | None = None,
               **build: Any) -> Answer:
    """`ask`, handing the answer's tokens to `on_token` as the model produces them."""
    graph, thread, inputs, config = _start(question, graph, thread_id, build)
    state: dict[str, Any] = {}
    path: list[str] = []
    for mode, payload in graph.stream(inputs, config, stream_mode=STREAMED):
        state = _streamed(mode, payload, state, path, on_token)
    return _answer(state, thread, path)


async def astream_ask(question: str, graph: CompiledStateGraph | None = None, *,
                      on_token: Callable[[str], object], thread_id: str | None = None,
                      **build: Any) -> Answer:
    """Async `stream_ask`."""
    graph, thread, inputs, config = _start(question, graph, thread_id, build)
    state: dict[str, Any] = {}
    path: list[str] = []
    async for mode, payload in graph.astream(inputs, config, stream_mode=STREAMED):
        state = _streamed(mode, payload, state, path, on_token)
    return _answer(state, thread, path)


def _streamed(mode: str, payload: Any, state: dict[str, Any], path: list[str],
              on_token: Callable[[str], object]) -> dict[str, Any]:
    """One part of a stream: the answer's tokens to `on_token`, the rest to `_step` (the
    last values are the final state: no checkpointer needed)."""
    if mode != "messages":
        return _step(mode, payload, state, path)
    chunk, meta = payload
    if (isinstance(chunk, AIMessageChunk) and chunk.content
            and meta.get("langgraph_node") in ANSWERING_NODES):
        on_token(chunk.text)
    return state
