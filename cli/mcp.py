"""`rankwise mcp`: the knowledge base's tools for any MCP host, from one long-lived process.

The tools are rankwise's LangChain tools themselves (`retrieve`, `rerank`,
`ask_knowledge_base`): the same names, descriptions and argument schemas, the same text for
the model, and their artifact (ids, sources, scores) as structured content beside it. One
process holds the Milvus Lite file and the models, warm, for every client: over stdio for a
host that spawns it, or over streamable HTTP for many clients at once.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import uuid
import weakref
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import mcp.types as types
from langchain_core.tools import BaseTool
from mcp.server.lowlevel import Server
from pydantic import TypeAdapter
from rankwise.graphs.tool import AskArtifact
from rankwise.tools.agent_tools import ToolArtifact
from rankwise.tools.agent_tools.base import tool_call

from rankwise import __version__

SERVER_NAME = "rankwise"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class ToolFailed(Exception):
    """A tool answered with an error; the SDK sends its text as an error result."""


@dataclass(frozen=True)
class Presentation:
    """How a host shows a tool: a title, hints that let it skip approval prompts for
    harmless calls, and the shape of the tool's structured content."""

    title: str
    artifact: Any
    read_only: bool = True
    destructive: bool = False
    idempotent: bool = True

    def annotations(self) -> types.ToolAnnotations:
        return types.ToolAnnotations(
            title=self.title, readOnlyHint=self.read_only,
            destructiveHint=None if self.read_only else self.destructive,
            idempotentHint=None if self.read_only else self.idempotent,
            openWorldHint=False)  # the user's own documents, not the open web


_COUNTS = dict[str, Any]  # the admin tools' small artifacts
PRESENTATIONS = {
    "retrieve": Presentation("Search the documents", ToolArtifact),
    "rerank": Presentation("Search and rerank the documents", ToolArtifact),
    # keeps the conversation it is given: not read-only, and a repeat is a new turn
    "ask_knowledge_base": Presentation("Answer from the documents, citing them", AskArtifact,
                                       read_only=False, idempotent=False),
    "list_sources": Presentation("List the documents", _COUNTS),
    "ingest": Presentation("Add or update documents", _COUNTS, read_only=False),
    "delete": Presentation("Delete documents", _COUNTS, read_only=False, destructive=True),
}


def describe(tool: BaseTool) -> types.Tool:
    """The MCP description of a LangChain tool: its name, description and argument schema,
    with a title, annotations and output schema where rankwise knows them."""
    shown = PRESENTATIONS.get(tool.name)
    return types.Tool(
        name=tool.name, description=tool.description,
        inputSchema=input_schema(tool),
        title=shown.title if shown else None,
        annotations=shown.annotations() if shown else None,
        outputSchema=TypeAdapter(shown.artifact).json_schema() if shown else None)


def input_schema(tool: BaseTool) -> dict[str, Any]:
    """The JSON schema of the arguments the model gives `tool` (injected ones left out)."""
    schema = tool.tool_call_schema
    if isinstance(schema, dict):
        return schema
    return schema.model_json_schema() if hasattr(schema, "model_json_schema") else schema.schema()


def build_server(tools: Sequence[BaseTool]) -> Server:
    """An MCP server whose tools are `tools`, called the LangChain way (ToolCall in,
    ToolMessage out): content to the model, artifact as structured content.

    Each client (MCP session) is a conversation owner of its own: the tools receive it as
    `configurable.conversation_owner`, so a conversation id one client names is never
    another client's conversation."""
    server: Server = Server(SERVER_NAME, version=__version__)
    by_name = {tool.name: tool for tool in tools}
    owners: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
    described = [describe(tool) for tool in tools]

    def owner() -> str:
        session = server.request_context.session
        return owners.setdefault(session, uuid.uuid4().hex)

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        return described

    @server.call_tool(validate_input=False)  # the tool's own schema validates, with its words
    async def call_tool(name: str, arguments: dict[str, Any]) -> Any:
        message = await by_name[name].ainvoke(
            tool_call(by_name[name], arguments, "mcp"),
            {"configurable": {"conversation_owner": owner()}})
        if message.status == "error":  # the tool's own one-line answer to a failure
            raise ToolFailed(message.text)
        text = [types.TextContent(type="text", text=message.text)]
        artifact = getattr(message, "artifact", None)
        return (text, artifact) if isinstance(artifact, dict) else text

    return server


async def serve_stdio(server: Server) -> None:
    """Serve one host over standard input and output."""
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def transport_security(host: str, port: int) -> Any:
    """The SDK's DNS-rebinding protection for a server bound to `host`: on loopback, only
    requests naming a loopback host (and, from a browser, a loopback origin) are served,
    so a web page cannot reach the server through a name that resolves to 127.0.0.1.
    Elsewhere the bearer token guards the server (`check_exposure`)."""
    from mcp.server.transport_security import TransportSecuritySettings

    if not is_loopback(host):
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:{port}" for name in LOOPBACK_NAMES],
        allowed_origins=[f"{scheme}://{name}:*" for scheme in ("http", "https")
                         for name in LOOPBACK_NAMES])


def check_token(token: str | None) -> str | None:
    """`token` if it can authenticate anyone; None when none is set. An empty or blank
    token is an error, never a silent "no authentication"."""
    if token is None:
        return None
    if not token.strip():
        raise ValueError("the MCP token (--token or RANKWISE_MCP_TOKEN) is empty: set it to a "
                         "secret, or unset it to serve without one on 127.0.0.1")
    return token.strip()


def check_exposure(host: str, token: str | None, insecure: bool) -> None:
    """Refuse to serve a non-loopback address without a token, unless `insecure`."""
    if token is None and not insecure and not is_loopback(host):
        raise ValueError(f"serving on {host} lets other machines use the knowledge base: "
                         "set a token (--token or RANKWISE_MCP_TOKEN), bind to 127.0.0.1, or "
                         "pass --insecure if the network is trusted")


def http_app(server: Server, token: str | None = None, security: Any = None) -> Any:
    """A Starlette app serving `server` at /mcp over streamable HTTP; with `token`, every
    request must carry `Authorization: Bearer <token>`; `security` is the SDK's
    `TransportSecuritySettings` (see `transport_security`)."""
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    logging.getLogger("mcp.server.streamable_http").addFilter(_quiet_close)
    # Plain JSON replies to calls: no server-sent-event framing for a one-shot answer.
    sessions = StreamableHTTPSessionManager(app=server, json_response=True,
                                            security_settings=security)

    class Endpoint:  # an ASGI app: Route serves /mcp itself, without a redirect to /mcp/
        async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
            if token is not None and not _authorized(scope, token):
                refusal = JSONResponse({"error": "missing or wrong bearer token"},
                                       status_code=401, headers={"WWW-Authenticate": "Bearer"})
                await refusal(scope, receive, send)
                return
            await sessions.handle_request(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with sessions.run():
            yield

    return Starlette(routes=[Route("/mcp", endpoint=Endpoint(), methods=["GET", "POST", "DELETE"])],
                     lifespan=lifespan)


def _quiet_close(record: logging.LogRecord) -> bool:
    """False for the SDK's ERROR when a client ends its session normally (its standalone
    event stream is closed under the writer: anyio's ClosedResourceError)."""
    closed = record.exc_info and type(record.exc_info[1]).__name__ == "ClosedResourceError"
    return not (closed and "standalone SSE writer" in record.getMessage())


def _authorized(scope: dict, token: str) -> bool:
    """`Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 7235)."""
    headers = dict(scope.get("headers") or [])
    scheme, _, given = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode())


def parse_address(address: str) -> tuple[str, int]:
    """`[HOST:]PORT` -> (host, port); the host is 127.0.0.1 unless given."""
    host, _, port = address.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r} is not [HOST:]PORT, such as 8765 or 0.0.0.0:8765")
    return host or "127.0.0.1", int(port)
