"""`rankwise mcp`: real MCP client sessions over stdio and streamable HTTP."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest
from judges import Judge, ScriptedModel
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamablehttp_client
from rankwise.cli.app import app
from rankwise.tools import KnowledgeBase, RetrieveTool
from typer.testing import CliRunner

from rankwise import __version__

pytestmark = pytest.mark.slow  # real processes

FACTS = {"backups.md": "Nightly backups are kept for thirty days.",
         "food.md": "The cafeteria serves soup on Mondays."}
TOOLS = {"retrieve", "rerank", "ask_knowledge_base"}


@pytest.fixture
def served(settings, ollama) -> dict[str, str]:
    """A filled knowledge base, closed so the server process can open it; its environment."""
    kb = KnowledgeBase(settings)
    kb.add_texts(list(FACTS.values()), [{"source": s} for s in FACTS])
    kb.close()
    ollama.chat_reply = ScriptedModel(Judge(
        lambda q, p: 3.0 if "backups" in p and "backups" in q.lower() else 0.0))
    return {**os.environ, "OLLAMA_HOST": ollama.url, "RANKWISE_MILVUS_URI": settings.milvus_uri,
            "RANKWISE_COLLECTION": settings.collection, "RANKWISE_RERANK_STRATEGY": "listwise"}


async def exercise(session: ClientSession, kb_settings) -> None:
    """List the tools and call each, checking text and structured content."""
    started = await session.initialize()
    assert (started.serverInfo.name, started.serverInfo.version) == ("rankwise", __version__)
    listed = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(listed) == TOOLS
    for name in ("retrieve", "rerank"):  # a host may call these without asking the user
        hints = listed[name].annotations
        assert (hints.readOnlyHint, hints.openWorldHint) == (True, False), name
        assert listed[name].title and listed[name].outputSchema["type"] == "object"
    asking = listed["ask_knowledge_base"].annotations
    assert (asking.readOnlyHint, asking.destructiveHint, asking.idempotentHint) == (
        False, False, False), "it keeps the conversation it is given"
    assert set(listed["ask_knowledge_base"].outputSchema["properties"]) == {
        "answer", "citations", "passages", "warnings", "standalone"}
    langchain = RetrieveTool(knowledge_base=KnowledgeBase(kb_settings))
    assert listed["retrieve"].inputSchema == langchain.tool_call_schema.model_json_schema()
    assert listed["retrieve"].description == langchain.description

    found = await session.call_tool("retrieve", {"query": "nightly backups", "k": 1})
    assert not found.isError
    assert found.content[0].text.startswith('<passage n="1" id=')
    assert found.structuredContent["hits"][0]["source"] == "backups.md"

    ranked = await session.call_tool("rerank", {"query": "How long are backups kept?"})
    assert ranked.structuredContent["rerank"]["strategy"] == "listwise"
    assert ranked.structuredContent["hits"][0]["source"] == "backups.md"

    answered = await session.call_tool("ask_knowledge_base",
                                       {"question": "How long are nightly backups kept?"})
    assert answered.content[0].text.startswith("From the documents [1].")
    assert answered.structuredContent["citations"][0]["source"] == "backups.md"

    follow_up = await session.call_tool("ask_knowledge_base", {
        "question": "And how long are they kept?", "conversation": "c1"})
    assert follow_up.structuredContent["standalone"] == "And how long are they kept?"
    condensed = await session.call_tool("ask_knowledge_base", {
        "question": "And when do they run?", "conversation": "c1"})
    assert condensed.structuredContent["standalone"] == (
        "And when do they run? (And how long are they kept?)"), "read with the earlier turn"

    empty = await session.call_tool("retrieve", {"query": "  "})
    assert empty.isError and "query is empty" in empty.content[0].text


async def test_a_host_over_stdio_lists_and_calls_every_tool(served, settings):
    command = StdioServerParameters(command=sys.executable,
                                    args=["-m", "rankwise.cli.app", "mcp"], env=served)
    async with stdio_client(command) as (read, write), ClientSession(read, write) as session:
        await exercise(session, settings)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def http_process(served):
    """`rankwise mcp --http` in its own process, with a bearer token."""
    process, url = start_http({**served, "RANKWISE_MCP_TOKEN": "s3cret"})
    yield process, url
    process.terminate()
    process.wait(10)


@pytest.fixture
def http_server(http_process) -> str:
    return http_process[1]


async def test_many_clients_at_once_over_http_with_a_bearer_token(http_server, settings):
    headers = {"Authorization": "Bearer s3cret"}

    async def one_client(n: int) -> str:
        async with streamablehttp_client(http_server, headers=headers) as (read, write, _), \
                ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("retrieve", {"query": "soup mondays", "k": 1})
            return result.structuredContent["hits"][0]["source"]

    assert await asyncio.gather(*(one_client(n) for n in range(4))) == ["food.md"] * 4

    async with streamablehttp_client(http_server, headers=headers) as (read, write, _), \
            ClientSession(read, write) as session:
        await exercise(session, settings)

    refused = httpx.post(http_server, json={}, headers={"Authorization": "Bearer wrong"})
    assert refused.status_code == 401


async def test_sessions_that_end_normally_log_no_error(http_process):
    process, url = http_process
    async with streamablehttp_client(url, headers={"Authorization": "Bearer s3cret"}) as (
            read, write, _), ClientSession(read, write) as session:
        await session.initialize()
        await session.call_tool("retrieve", {"query": "soup", "k": 1})
    await asyncio.sleep(0.5)  # the server finishes closing the session

    process.terminate()
    said = process.communicate(timeout=10)[1]
    assert said.splitlines() == [f"rankwise mcp: serving {url}"], said


def test_a_bad_address_is_one_line(served):
    result = subprocess.run([sys.executable, "-m", "rankwise.cli.app", "mcp", "--http", "x:y"],
                            env=served, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "is not [HOST:]PORT" in result.stderr
    assert "Traceback" not in result.stderr


async def test_langchain_mcp_adapters_load_the_tools_into_a_langgraph_agent(served, ollama):
    from langchain_mcp_adapters.client import MultiServerMCPClient
    from langchain_ollama import ChatOllama
    from langgraph.prebuilt import create_react_agent

    client = MultiServerMCPClient({"rankwise": {
        "command": sys.executable, "args": ["-m", "rankwise.cli.app", "mcp"],
        "transport": "stdio", "env": served}})
    tools = await client.get_tools()
    assert {tool.name for tool in tools} == TOOLS
    agent = create_react_agent(ChatOllama(model="llama3.2", base_url=ollama.url), tools)

    state = await agent.ainvoke({"messages": [("user", "How long are nightly backups kept?")]})

    tool_message = next(m for m in state["messages"] if m.type == "tool")
    assert tool_message.name == "retrieve" and "backups.md" in str(tool_message.content)
    assert state["messages"][-1].content == "From the documents [1]."


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "probe", "version": "0"}}}
JSON_HEADERS = {"Accept": "application/json, text/event-stream",
                "Content-Type": "application/json"}


def start_http(env: dict[str, str], *args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "rankwise.cli.app", "mcp", "--http",
                                str(port), *args], env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return process, url
        except httpx.TransportError:
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.2)
    raise AssertionError("rankwise mcp did not start")


def test_a_web_page_cannot_reach_a_local_server_through_dns_rebinding(served):
    process, url = start_http({k: v for k, v in served.items() if k != "RANKWISE_MCP_TOKEN"})
    port = url.split(":")[2].split("/")[0]
    try:
        rebound = httpx.post(url, json=INITIALIZE, headers={
            **JSON_HEADERS, "Host": f"attacker.example:{port}",
            "Origin": f"http://attacker.example:{port}"})
        foreign_page = httpx.post(url, json=INITIALIZE, headers={
            **JSON_HEADERS, "Origin": "http://attacker.example"})
        local = httpx.post(url, json=INITIALIZE, headers=JSON_HEADERS)
        local_page = httpx.post(url, json=INITIALIZE, headers={
            **JSON_HEADERS, "Origin": "http://localhost:6274"})
    finally:
        process.terminate()
        process.wait(10)
    assert (rebound.status_code, foreign_page.status_code) == (421, 403)
    assert (local.status_code, local_page.status_code) == (200, 200)


def test_the_bearer_scheme_is_case_insensitive(http_server):
    for scheme in ("Bearer", "bearer", "BEARER"):
        answer = httpx.post(http_server, json=INITIALIZE,
                            headers={**JSON_HEADERS, "Authorization": f"{scheme} s3cret"})
        assert answer.status_code == 200, scheme
    for wrong in ("Bearer", "Basic s3cret", "Bearers3cret", "Bearer s3cret2", "s3cret"):
        answer = httpx.post(http_server, json=INITIALIZE,
                            headers={**JSON_HEADERS, "Authorization": wrong})
        assert answer.status_code == 401, wrong


@pytest.mark.parametrize(("env", "args", "words"), [
    ({"RANKWISE_MCP_TOKEN": ""}, [], "token (--token or RANKWISE_MCP_TOKEN) is empty"),
    ({"RANKWISE_MCP_TOKEN": "   "}, [], "is empty"),
    ({}, ["--token", ""], "is empty"),
    ({}, ["--http", "0.0.0.0:8765"], "set a token"),
])
def test_a_token_that_is_no_token_and_an_open_address_are_refused(monkeypatch, env, args,
                                                                   words):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    command = ["mcp", *args] + ([] if "--http" in args else ["--http", str(free_port())])

    result = CliRunner().invoke(app, command)

    said = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())  # typer's usage box
    assert result.exit_code == 2 and words in said, result.output
    assert "Traceback" not in result.output


async def test_clients_never_read_each_others_conversations(http_server, ollama):
    headers = {"Authorization": "Bearer s3cret"}

    async def ask(question: str, conversation: str = "team"):
        async with streamablehttp_client(http_server, headers=headers) as (read, write, _), \
                ClientSession(read, write) as session:
            await session.initialize()
            return await session.call_tool("ask_knowledge_base", {
                "question": question, "conversation": conversation})

    first = await ask("My account PIN is 4321. How long are backups kept?")
    assert not first.isError
    ollama.requests.clear()

    second = await ask("And what did I say before?")

    assert second.structuredContent["standalone"] == "And what did I say before?"
    prompts = str([body for path, body in ollama.requests if path == "/api/chat"])
    assert "what did I say before" in prompts and "4321" not in prompts


async def test_admin_tools_make_the_server_the_one_writer_of_its_file(served, tmp_path):
    allowed = tmp_path / "inbox"
    allowed.mkdir()
    (allowed / "keys.md").write_text("Signing keys rotate every ninety days.")
    (tmp_path / "secret.md").write_text("The vault code is 99.")
    command = StdioServerParameters(command=sys.executable, env=served, args=[
        "-m", "rankwise.cli.app", "mcp", "--admin", "--ingest-root", str(allowed)])
    async with stdio_client(command) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(listed) == TOOLS | {"ingest", "list_sources", "delete"}
        assert listed["delete"].annotations.destructiveHint is True
        assert listed["list_sources"].annotations.readOnlyHint is True

        added = await session.call_tool("ingest", {"path": "keys.md"})
        assert not added.isError and added.structuredContent["added"] == 1
        for outside in ("../secret.md", str(tmp_path / "secret.md"), "/etc"):
            refused = await session.call_tool("ingest", {"path": outside})
            assert refused.isError and "outside the folders" in refused.content[0].text
        listing = await session.call_tool("list_sources", {})
        keys = (allowed / "keys.md").resolve().as_posix()
        assert listing.structuredContent["sources"] == sorted([*FACTS, keys])

        deleted = await session.call_tool("delete", {"source": keys})
        assert deleted.structuredContent == {"deleted": 1}
        found = await session.call_tool("retrieve", {"query": "signing keys rotate", "k": 5})
        assert all(hit["source"] != keys for hit in found.structuredContent["hits"])


@pytest.fixture(scope="session")
def mcp_versions(tmp_path_factory) -> dict[str, str]:
    """The MCP SDK at the floor of rankwise's range and past its top, each in a folder
    that goes first on PYTHONPATH (their dependencies are the suite's)."""
    folders = {}
    for release in ("1.21.2", "2.3.0"):
        folder = tmp_path_factory.mktemp(f"mcp-{release}")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--target", str(folder), f"mcp=={release}"], check=True, timeout=300)
        folders[release] = str(folder)
    return folders


async def test_the_oldest_supported_mcp_sdk_serves_every_tool(served, settings, mcp_versions):
    env = {**served, "PYTHONPATH": mcp_versions["1.21.2"]}
    command = StdioServerParameters(command=sys.executable, env=env,
                                    args=["-m", "rankwise.cli.app", "mcp"])
    async with stdio_client(command) as (read, write), ClientSession(read, write) as session:
        await exercise(session, settings)


def test_an_unsupported_mcp_sdk_is_one_line(served, mcp_versions):
    result = subprocess.run([sys.executable, "-m", "rankwise.cli.app", "mcp"], timeout=60,
                            env={**served, "PYTHONPATH": mcp_versions["2.3.0"]},
                            capture_output=True, text=True)

    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: the MCP server cannot start: mcp 2.3.0 is installed, but rankwise supports "
        "mcp<2,>=1.21.2: pip install 'rankwise[mcp]' (or pip install 'mcp<2,>=1.21.2')"]
