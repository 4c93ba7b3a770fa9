"""The rankwise graph: retrieval, rerank and generation as a LangGraph `StateGraph`.

Two modes from one builder:

- **pipeline**: prepare -> retrieve -> rerank -> generate, with a bounded query rewrite
  when nothing relevant survives the rerank; a follow-up on a thread is first condensed
  into a standalone question (both modes);
- **agentic**: a chat model with the `retrieve` and `rerank` tools bound decides whether
  the question needs the documents; `ToolNode` runs its calls.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer
from rankwise.tools import (
    Hit,
    InvalidArgumentError,
    KnowledgeBase,
    RankwiseToolkit,
    Reranker,
    Strategy,
    format_hits,
)
from rankwise.tools import chat_model as guarded_chat_model
from rankwise.tools.core.vocabulary import GRAPH_MODES, GraphMode, choose, require_text

from .citations import check_citations
from .prompts import (
    AGENT_STANDALONE,
    AGENT_SYSTEM,
    ANSWER_HUMAN,
    ANSWER_SYSTEM,
    CONDENSE,
    NOT_IN_DOCUMENTS,
    REWRITE,
)
from .state import RagState, RunContext

Mode = GraphMode


def _since_last_question(messages: list[AnyMessage]) -> list[AnyMessage]:
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], HumanMessage):
            return messages[index + 1:]
    return messages


def _first_line(text: str, fallback: str) -> str:
    """The first non-empty line of a model's reply, without quotes; `fallback` if none."""
    lines = [line.strip().strip('"') for line in text.splitlines() if line.strip()]
    return lines[0] if lines else fallback


def _conversation(messages: list[AnyMessage]) -> list[AnyMessage]:
    """The earlier turns: questions and final answers, without tool traffic."""
    return [m for m in messages if isinstance(m, HumanMessage)
            or (isinstance(m, AIMessage) and not m.tool_calls)]


def _cited_note(invalid: list[int]) -> str:
    numbers = ", ".join(f"[{n}]" for n in invalid)
    return (f"the answer cited {numbers}, which the model was not given; "
            f"{'that citation was' if len(invalid) == 1 else 'those citations were'} removed")


def _tool_passages(messages: list[AnyMessage]) -> list[dict[str, Any]]:
    """The passages of the latest retrieve/rerank ToolMessage answering this question."""
    for message in reversed(_since_last_question(messages)):
        if isinstance(message, ToolMessage) and message.artifact:
            return message.artifact["hits"]
    return []


def _absolute_score(passage: dict[str, Any]) -> float:
    """A passage's score on a scale that does not depend on the other candidates: a hybrid
    hit's fused score is relative to its pool, so its cosine similarity stands in (0 when
    only BM25 found it)."""
    hit = Hit.model_validate(passage)
    return hit.score if hit.scored_by != "fused" else hit.cosine or 0.0


class _Nodes:
    """The graph's node functions, sharing the knowledge base, reranker and chat model."""

    def __init__(self, kb: KnowledgeBase, reranker: Reranker, model: BaseChatModel, *,
                 top_n: int, top_k: int, max_rewrites: int, max_tool_rounds: int,
                 min_score: float, min_grade: float, tools: list) -> None:
        self.kb, self.reranker, self.model = kb, reranker, model
        self.top_n, self.top_k = top_n, top_k
        self.max_rewrites, self.max_tool_rounds = max_rewrites, max_tool_rounds
        self.min_score, self.min_grade = min_score, min_grade
        self.tools = tools
        self.quiet = model.with_config(tags=["nostream"])  # its replies are never answers
        self._lock = threading.Lock()
        self._tenants: dict[str, KnowledgeBase] = {}
        self._rerankers: dict[str, Reranker] = {}

    def prepare(self, state: RagState) -> dict:
        """Start a question: the latest human message, or a `question` sent alone (it
        joins the conversation as a human message)."""
        messages = state.get("messages", [])
        asked = [] if messages and isinstance(messages[-1], HumanMessage) else [
            HumanMessage(require_text(state.get("question", ""), "question"))]
        question = require_text(next((m.text for m in reversed([*messages, *asked])
                                      if isinstance(m, HumanMessage)), ""), "question")
        return {"messages": asked, "question": question, "standalone": question,
                "query": question, "candidates": [], "passages": [], "answer": "",
                "citations": [], "rewrites": 0, "invalid_citations": 0, "warnings": []}

    @staticmethod
    def follow_up(state: RagState) -> Literal["follow-up", "first question"]:
        earlier = _conversation(state["messages"][:-1])
        return "follow-up" if earlier else "first question"

    def knowledge_base(self, tenant: str | None) -> KnowledgeBase:
        """The knowledge base for `tenant` (its own part of the same collection)."""
        if tenant is None or tenant == self.kb.settings.tenant:
            return self.kb
        with self._lock:
            if tenant not in self._tenants:
                self._tenants[tenant] = KnowledgeBase(self.kb.settings.updated(tenant=tenant),
                                                      embeddings=self.kb.embedder)
            return self._tenants[tenant]

    def reranker_for(self, strategy: Strategy | None) -> Reranker:
        """The reranker for `strategy`, made once (its model shared with the graph)."""
        if strategy is None or strategy == self.reranker.strategy:
            return self.reranker
        with self._lock:
            if strategy not in self._rerankers:
                self._rerankers[strategy] = Reranker(self.kb.settings, strategy=strategy,
                                                     top_k=self.top_k, chat_model=self.model)
            return self._rerankers[strategy]

    def condense(self, state: RagState) -> dict:
        """The follow-up as a question that stands alone, for retrieval and rerank; the
        answer still sees the user's own words."""
        history = "\n".join(f"{'User' if isinstance(m, HumanMessage) else 'Assistant'}: "
                            f"{m.text}" for m in _conversation(state["messages"][:-1]))
        reply = self.quiet.invoke([HumanMessage(
            CONDENSE.format(history=history, question=state["question"]))])
        standalone = _first_line(reply.text, state["question"])
        return {"standalone": standalone, "query": standalone}

    # ---- pipeline -----------------------------------------------------------------
    def retrieve(self, state: RagState, runtime: Runtime[RunContext]) -> dict:
        run = runtime.context or RunContext()
        hits = self.knowledge_base(run.tenant).search(
            state["query"], run.top_n or self.top_n, run.filter, mode=run.search_mode)
        return {"candidates": [hit.model_dump() for hit in hits]}

    def rerank(self, state: RagState, runtime: Runtime[RunContext]) -> dict:
        run, config = runtime.context or RunContext(), get_config()
        hits = [Hit(**candidate) for candidate in state["candidates"]]
        result = self.reranker_for(run.strategy).rerank(
            state["standalone"], hits, run.top_k or self.top_k, config)
        fell_back = [f"rerank fell back to retrieval order: {result.error}"] if result.error \
            else []
        return {"passages": [hit.model_dump() for hit in result.hits],
                "warnings": [*state.get("warnings", []), *fell_back]}

    def relevant(self, passages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Passages graded at least `min_grade`, or ungraded ones scoring `min_score`."""
        return [p for p in passages
                if (p["rerank_score"] >= self.min_grade if p.get("rerank_score") is not None
                    else _absolute_score(p) >= self.min_score)]

    def route(self, state: RagState) -> Literal["relevant or out of rewrites", "search again"]:
        if self.relevant(state.get("passages", [])):
            return "relevant or out of rewrites"
        if state.get("rewrites", 0) < self.max_rewrites:
            return "search again"
        return "relevant or out of rewrites"

    def rewrite(self, state: RagState) -> dict:
        reply = self.quiet.invoke([HumanMessage(
            REWRITE.format(question=state["standalone"], query=state["query"]))])
        query = _first_line(reply.text, state["standalone"])
        note = f"nothing relevant was found for {state['query']!r}; searched again for {query!r}"
        return {"query": query, "rewrites": state.get("rewrites", 0) + 1,
                "warnings": [*state.get("warnings", []), note]}

    def generate(self, state: RagState) -> dict:
        passages = self.relevant(state.get("passages", []))
        warnings = list(state.get("warnings", []))
        if not passages:
            warnings.append("the knowledge base had no passage relevant to the question")
            return {"answer": NOT_IN_DOCUMENTS, "citations": [], "passages": [],
                    "warnings": warnings, "messages": [AIMessage(NOT_IN_DOCUMENTS)]}
        prompt = ANSWER_HUMAN.format(question=state["question"],
                                     passages=format_hits([Hit(**p) for p in passages]))
        reply = self.model.invoke([SystemMessage(ANSWER_SYSTEM),
                                   *_conversation(state["messages"][:-1]), HumanMessage(prompt)])
        update = self._checked(reply.text, passages, warnings)
        # the streamed reply's id: a message stream shows the answer once, updated when a
        # citation was removed, never twice
        return {**update, "messages": [AIMessage(update["answer"], id=reply.id)]}

    @staticmethod
    def _checked(text: str, passages: list[dict[str, Any]], warnings: list[str]) -> dict:
        """The answer with its citations checked: invented ones removed, and said so."""
        answer, citations, invalid = check_citations(text, passages)
        if invalid:
            note = _cited_note(invalid)
            answer = f"{answer}\n\n(Note: {note}.)"
            warnings = [*warnings, note]
        return {"answer": answer, "citations": citations, "invalid_citations": len(invalid),
                "passages": passages, "warnings": warnings}

    # ---- agentic ------------------------------------------------------------------
    def agent(self, state: RagState, runtime: Runtime[RunContext]) -> dict:
        if runtime.context is not None and runtime.context != RunContext():
            raise InvalidArgumentError(
                "the agentic graph takes no per-run context (its tools are built with the "
                "graph): build it with those choices, or use the pipeline graph")
        rounds = sum(1 for m in _since_last_question(state["messages"])
                     if isinstance(m, AIMessage) and m.tool_calls)
        model = (self.model if rounds >= self.max_tool_rounds
                 else self.model.bind_tools(self.tools))
        system = AGENT_SYSTEM
        if state.get("standalone", state.get("question")) != state.get("question"):
            system += AGENT_STANDALONE.format(standalone=state["standalone"])
        reply = model.invoke([SystemMessage(system), *state["messages"]])
        return {"messages": [reply]}

    @staticmethod
    def after_agent(state: RagState) -> Literal["call tools", "answer"]:
        return "call tools" if tools_condition(state["messages"]) == "tools" else "answer"

    def finalize(self, state: RagState) -> dict:
        last = state["messages"][-1]
        update = self._checked(last.text, _tool_passages(state["messages"]),
                               list(state.get("warnings", [])))
        if update["invalid_citations"]:
            update["messages"] = [AIMessage(update["answer"], id=last.id)]
        return update


def build_graph(
    knowledge_base: KnowledgeBase | None = None,
    *,
    mode: Mode = "pipeline",
    rerank: Strategy | None = None,
    reranker: Reranker | None = None,
    chat_model: BaseChatModel | None = None,
    checkpointer: Checkpointer = None,
    top_n: int | None = None,
    top_k: int | None = None,
    max_rewrites: int = 1,
    max_tool_rounds: int = 3,
    min_score: float = 0.0,
    min_grade: float = 1.0,
    input_schema: type | None = None,
    output_schema: type | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """A compiled rankwise graph. Settings come from the knowledge base's `Settings`.

    `chat_model` is any LangChain chat model (default: the one the settings name, Ollama's
    by default); the reranker uses it too unless `reranker` is given. Its errors arrive
    translated and its transient faults retried, by rankwise's model adapter.
    `rerank` picks the strategy (see `Reranker`: pointwise, listwise, tournament, pairwise,
    cross_encoder or none); `max_rewrites`
    bounds query rewrites when nothing relevant survives (pipeline mode);
    `max_tool_rounds` bounds tool-calling rounds per question (agentic mode). A passage
    counts as relevant when its rerank grade is at least `min_grade` or, ungraded, its
    score at least `min_score` (its cosine similarity for a hybrid hit; retrieval follows
    the knowledge base's `search_mode` setting). Any LangGraph checkpointer keeps conversations per
    `thread_id`. A run's `context` (`RunContext`: strategy, top_n, top_k, search mode,
    filter, tenant) overrides these for that run (pipeline mode). `input_schema` and
    `output_schema` narrow what clients send and get (LangGraph's own arguments; see
    `ChatInput`, `ChatOutput`); by default both are the whole state.
    """
    choose(mode, GRAPH_MODES, "mode")
    for name, value in (("max_rewrites", max_rewrites), ("max_tool_rounds", max_tool_rounds)):
        if value < 0:
            raise InvalidArgumentError(f"{name} must not be negative, got {value}")
    kb = knowledge_base or KnowledgeBase()
    settings = kb.settings
    top_n = top_n or settings.rerank_top_n
    top_k = top_k or settings.rerank_top_k
    model = guarded_chat_model(settings, chat_model)
    reranker = reranker or Reranker(settings, strategy=rerank, top_k=top_k, chat_model=model)
    tools = RankwiseToolkit(knowledge_base=kb, reranker=reranker, top_n=top_n,
                            top_k=top_k).get_tools()
    nodes = _Nodes(kb, reranker, model, top_n=top_n, top_k=top_k, max_rewrites=max_rewrites,
                   max_tool_rounds=max_tool_rounds, min_score=min_score, min_grade=min_grade,
                   tools=tools)
    first = "retrieve" if mode == "pipeline" else "agent"
    graph = StateGraph(RagState, context_schema=RunContext, input_schema=input_schema,
                       output_schema=output_schema)
    graph.add_node("prepare", nodes.prepare)
    graph.add_node("condense", nodes.condense)
    graph.add_edge(START, "prepare")
    graph.add_conditional_edges("prepare", nodes.follow_up,
                                {"follow-up": "condense", "first question": first})
    graph.add_edge("condense", first)
    if mode == "pipeline":
        graph.add_node("retrieve", nodes.retrieve)
        graph.add_node("rerank", nodes.rerank)
        graph.add_node("rewrite", nodes.rewrite)
        graph.add_node("generate", nodes.generate)
        graph.add_edge("retrieve", "rerank")
        graph.add_conditional_edges("rerank", nodes.route, {
            "relevant or out of rewrites": "generate", "search again": "rewrite"})
        graph.add_edge("rewrite", "retrieve")
        graph.add_edge("generate", END)
    else:
        graph.add_node("agent", nodes.agent)
        # the tools answer rankwise's errors themselves; anything else is a bug: it raises
        graph.add_node("tools", ToolNode(tools))
        graph.add_node("finalize", nodes.finalize)
        graph.add_conditional_edges("agent", nodes.after_agent,
                                    {"call tools": "tools", "answer": "finalize"})
        graph.add_edge("tools", "agent")
        graph.add_edge("finalize", END)
    return graph.compile(checkpointer=checkpointer, name=f"rankwise-{mode}")
