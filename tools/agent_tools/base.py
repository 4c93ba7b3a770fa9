"""`RankwiseTool`: what every rankwise LangChain tool shares, its error policy first.

The policy is langchain-core's own: a tool's expected failures (rankwise's errors: an empty
query, a bad filter, a model or store that is down) become a `ToolException`, which the
tool answers with an error `ToolMessage` the model can act on (`handle_tool_error`), under
any host: `tool.invoke`, LangGraph's `ToolNode`, the CrewAI adapter, the MCP server. Any
other exception is a bug, and propagates.
"""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from langchain_core.messages import ToolCall
from langchain_core.tools import BaseTool, ToolException
from pydantic import ConfigDict

from ..core.errors import RankwiseError

F = TypeVar("F", bound=Callable[..., Any])


def tool_call(tool: BaseTool, arguments: dict[str, Any], prefix: str = "call") -> ToolCall:
    """A ToolCall for `tool`, with a fresh id: how a host that is not a chat model (the
    CrewAI adapter, the MCP server) calls a tool the LangChain way."""
    return {"name": tool.name, "args": arguments, "id": f"{prefix}_{uuid.uuid4().hex[:16]}",
            "type": "tool_call"}


def error_message(error: ToolException) -> str:
    """What the model reads when a tool fails: rankwise's one line, marked as an error."""
    return f"Error: {error}"


def expected_errors(run: F) -> F:
    """`_run` or `_arun` with rankwise's errors raised as `ToolException`."""
    if inspect.iscoroutinefunction(run):
        @functools.wraps(run)
        async def arun(*args: Any, **kwargs: Any) -> Any:
            try:
                return await run(*args, **kwargs)
            except RankwiseError as exc:
                raise ToolException(str(exc)) from exc

        return arun  # type: ignore[return-value]

    @functools.wraps(run)
    def sync_run(*args: Any, **kwargs: Any) -> Any:
        try:
            return run(*args, **kwargs)
        except RankwiseError as exc:
            raise ToolException(str(exc)) from exc

    return sync_run  # type: ignore[return-value]


class RankwiseTool(BaseTool):
    """A rankwise tool: content for the model and an artifact for the code, and
    rankwise's errors answered as error ToolMessages."""

    model_config = ConfigDict(arbitrary_types_allowed=True, use_attribute_docstrings=True)

    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    handle_tool_error: bool | str | Callable[[ToolException], str] | None = error_message
