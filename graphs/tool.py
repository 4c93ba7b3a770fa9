"""The whole graph as one LangChain tool, `ask_knowledge_base`.

No `from __future__ import annotations`, for the reason given in `rankwise.tools.retrieve`.
"""

from typing import Any

from langchain_core.callbacks import CallbackManagerForToolRun
from langchain_core.tools import BaseTool
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, ConfigDict

from .answering import ask


class AskInput(BaseModel):
    """Arguments of the `ask_knowledge_base` tool, as the model sees them."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    question: str
    """The question to answer from the documents."""
    conversation: str | None = None
    """Optional id of a conversation to continue: pass the same id with each follow-up
    question, so that it is understood with the earlier ones."""


class AskKnowledgeBaseTool(BaseTool):
    """Answer from the documents with citations; artifact = answer, citations, passages."""

    model_config = ConfigDict(arbitrary_types_allowed=True, use_attribute_docstrings=True)

    name: str = "ask_knowledge_base"
    description: str = (
        "Answer a question from the user's documents. Returns the answer citing passages "
        "as [n], followed by the sources."
    )
    args_schema: type[BaseModel] = AskInput
    response_format: str = "content_and_artifact"
    graph: CompiledStateGraph
    """The rankwise graph that answers."""
    thread_id: str | None = None
    """The conversation kept when a call names none (the graph needs a checkpointer):
    follow-ups are condensed with the earlier questions before retrieval. None: a call
    without `conversation` stands alone."""

    def _run(
        self, question: str, conversation: str | None = None,
        run_manager: CallbackManagerForToolRun | None = None
    ) -> tuple[str, dict[str, Any]]:
        answer = ask(question, self.graph, thread_id=conversation or self.thread_id)
        sources = "\n".join(f"[{c['n']}] {c['source']} (id {c['id']})"
                            for c in answer.citations)
        content = answer.text + (f"\n\nSources:\n{sources}" if sources else "")
        return content, {"answer": answer.text, "citations": answer.citations,
                         "passages": answer.passages, "warnings": answer.warnings,
                         "standalone": answer.standalone}
