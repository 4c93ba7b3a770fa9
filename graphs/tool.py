"""The whole graph as one LangChain tool, `ask_knowledge_base`.

No `from __future__ import annotations`, for the reason given in
`rankwise.tools.agent_tools.retrieve`.
"""

from typing import Any

from langchain_core.callbacks import CallbackManagerForToolRun
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, ConfigDict
from rankwise.tools.agent_tools.base import RankwiseTool, expected_errors
from typing_extensions import TypedDict  # pydantic reads it on Python < 3.12

from .answering import ask
from .conversations import conversation_lock


class AskInput(BaseModel):
    """Arguments of the `ask_knowledge_base` tool, as the model sees them."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    question: str
    """The question to answer from the documents."""
    conversation: str | None = None
    """Optional id of a conversation to continue: pass the same id with each follow-up
    question, so that it is understood with the earlier ones."""


class AskArtifact(TypedDict):
    """The artifact of `ask_knowledge_base`: the answer and what it was made from."""

    answer: str
    citations: list[dict[str, Any]]
    passages: list[dict[str, Any]]
    warnings: list[str]
    standalone: str


class AskKnowledgeBaseTool(RankwiseTool):
    """Answer from the documents with citations; artifact = answer, citations, passages."""

    name: str = "ask_knowledge_base"
    description: str = (
        "Answer a question from the user's documents. Returns the answer citing passages "
        "as [n], followed by the sources."
    )
    args_schema: type[BaseModel] = AskInput
    graph: CompiledStateGraph
    """The rankwise graph that answers."""
    thread_id: str | None = None
    """The conversation kept when a call names none (the graph needs a checkpointer):
    follow-ups are condensed with the earlier questions before retrieval. None: a call
    without `conversation` stands alone."""

    @expected_errors
    def _run(
        self, question: str, conversation: str | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
        *,
        config: RunnableConfig,  # injected by LangChain: annotated exactly so
    ) -> tuple[str, AskArtifact]:
        thread = conversation or self.thread_id
        if thread is None:
            answer = ask(question, self.graph)
        else:
            # A host serving several clients names each one's `conversation_owner` (the
            # MCP server does): a conversation id is then private to the client using it.
            owner = (config.get("configurable") or {}).get("conversation_owner")
            thread = f"{owner}/{thread}" if owner else thread
            with conversation_lock(thread):  # one question at a time per conversation
                answer = ask(question, self.graph, thread_id=thread)
        sources = "\n".join(f"[{c['n']}] {c['source']} (id {c['id']})"
                            for c in answer.citations)
        content = answer.text + (f"\n\nSources:\n{sources}" if sources else "")
        return content, {"answer": answer.text, "citations": answer.citations,
                         "passages": answer.passages, "warnings": answer.warnings,
                         "standalone": answer.standalone}
