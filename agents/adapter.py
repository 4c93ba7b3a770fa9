"""LangChain tools as crewai tools, called the LangChain way: ToolCall in, ToolMessage out.

crewai's own `Tool.from_langchain` calls the tool's `.func` directly: async-only tools
fail, and a `content_and_artifact` tool's `(content, artifact)` tuple leaks into the
prompt. Here every call is a ToolCall; the crew sees `ToolMessage.content`, and the
artifact (hit ids, scores, sources) is kept on the adapter for the calling code. A tool's
expected failures reach the agent as its error message (rankwise's tools answer them
so); anything else is a bug and raises.
"""

from __future__ import annotations

from typing import Any

from crewai.tools import BaseTool as CrewAITool
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from pydantic import ConfigDict, Field
from rankwise.tools.agent_tools.base import tool_call
from rankwise.tools.core.aio import run_sync


class LangChainTool(CrewAITool):
    """A crewai tool in front of a LangChain `BaseTool`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    tool: BaseTool = Field(exclude=True, description="The LangChain tool called.")
    artifacts: dict[str, Any] = Field(
        default_factory=dict, exclude=True,
        description="Artifacts of the calls made, by ToolCall id, in call order.",
    )

    @classmethod
    def wrap(cls, tool: BaseTool) -> LangChainTool:
        """Name, description and the model-facing argument schema (injected arguments
        left out) carried over from `tool`."""
        return cls(name=tool.name, description=tool.description,
                   args_schema=tool.tool_call_schema, tool=tool)

    def _receive(self, message: ToolMessage) -> str:
        if message.artifact is not None:
            self.artifacts[message.tool_call_id] = message.artifact
        return message.text

    def _run(self, **arguments: Any) -> str:
        call = tool_call(self.tool, arguments)
        try:
            message = self.tool.invoke(call)
        except NotImplementedError:  # an async-only tool
            message = run_sync(self.tool.ainvoke(call))
        return self._receive(message)

    async def _arun(self, **arguments: Any) -> str:
        call = tool_call(self.tool, arguments)
        return self._receive(await self.tool.ainvoke(call))

    @property
    def last_artifact(self) -> Any:
        return next(reversed(self.artifacts.values()), None)
