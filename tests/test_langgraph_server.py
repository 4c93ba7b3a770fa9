"""rankwise on a real LangGraph API server (`langgraph dev`, the API of LangGraph Platform
and Studio), driven by the LangGraph SDK: runs, follow-ups on a thread, per-run context,
a message stream with only the answer in it, and ingest while served."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from judges import Judge, ScriptedModel
from langgraph_sdk import get_client
from rankwise.tools import KnowledgeBase, Settings
from test_mcp import free_port

pytestmark = pytest.mark.slow  # real processes

ROOT = Path(__file__).resolve().parent.parent
FACTS = {"backups.md": "Nightly backups are kept for thirty days.",
         "food.md": "The cafeteria serves soup on Mondays."}


@pytest.fixture(scope="module")
def server(tmp_path_factory, ollama):
    """`langgraph dev` serving examples/langgraph.json over a filled knowledge base."""
    home = tmp_path_factory.mktemp("langgraph")
    inbox = home / "inbox"
    inbox.mkdir()
    settings = Settings(ollama_host=ollama.url, milvus_uri=str(home / "kb.db"),
                        collection="served", chunk_size=200, chunk_overlap=40)
    with KnowledgeBase(settings) as kb:
        kb.add_texts(list(FACTS.values()), [{"source": s} for s in FACTS])
    shutil.copy(ROOT / "examples" / "langgraph.json", home / "langgraph.json")
    port = free_port()
    env = {**os.environ, "OLLAMA_HOST": ollama.url, "RANKWISE_MILVUS_URI": settings.milvus_uri,
           "RANKWISE_COLLECTION": "served", "RANKWISE_RERANK_STRATEGY": "pointwise",
           "RANKWISE_INGEST_ROOTS": json.dumps([str(inbox)]), "LANGSMITH_TRACING": "false"}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "langgraph"), "dev", "--no-browser", "--no-reload",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ok", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.3)
    yield url, inbox
    process.terminate()
    process.wait(15)


@pytest.fixture
def judge(ollama):
    ollama.chat_reply = ScriptedModel(
        Judge(lambda q, p: 3.0 if "backups" in p and "backups" in q.lower() else 0.0),
        answer=lambda question, passages: "Kept for thirty days [1].")


def answer_tokens(parts: list) -> dict[str, str]:
    """The text of each AI message in a `messages` stream, by message id."""
    texts: dict[str, str] = {}
    for part in parts:
        if part.event == "messages":
            chunk, _ = part.data
            if chunk.get("type") in ("AIMessageChunk", "ai"):
                texts[chunk["id"]] = texts.get(chunk["id"], "") + str(chunk.get("content", ""))
    return texts


async def test_runs_follow_ups_and_context_through_the_langgraph_api(server, judge, ollama):
    url, _ = server
    client = get_client(url=url)
    assistant = (await client.assistants.search(graph_id="rankwise"))[0]
    schemas = await client.assistants.get_schemas(assistant["assistant_id"])
    assert set(schemas["input_schema"]["properties"]) == {"messages", "question"}
    assert {"strategy", "top_n", "top_k", "search_mode", "filter", "tenant"} <= set(
        schemas["context_schema"]["properties"])
    thread = await client.threads.create()

    first = await client.runs.wait(thread["thread_id"], "rankwise",
                                   input={"question": "How long are nightly backups kept?"})
    assert first["answer"] == "Kept for thirty days [1]."
    assert first["citations"][0]["source"] == "backups.md"
    assert set(first) <= {"messages", "answer", "citations", "passages", "warnings",
                          "standalone"}, "internal fields stay inside the graph"

    parts = [part async for part in client.runs.stream(
        thread["thread_id"], "rankwise", stream_mode="messages-tuple",
        input={"messages": [{"role": "user", "content": "And when do backups run?"}]})]
    assert list(answer_tokens(parts).values()) == ["Kept for thirty days [1]."], (
        "only the answer streams: not the condensed question, not the rerank replies")
    state = await client.threads.get_state(thread["thread_id"])
    assert state["values"]["standalone"] == (
        "And when do backups run? (How long are nightly backups kept?)")
    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai"] * 2

    ollama.requests.clear()
    narrowed = await client.runs.wait(
        None, "rankwise", input={"question": "What is served on Mondays?"},
        context={"strategy": "none", "top_k": 1, "filter": {"source": "food.md"}})
    assert [p["source"] for p in narrowed["passages"]] == ["food.md"]
    prompts = str([body for path, body in ollama.requests if path == "/api/chat"])
    assert "<passage>" not in prompts.split("Question:")[0], "strategy none: no rerank call"


async def test_files_are_ingested_through_the_server_that_holds_the_file(server, judge, tmp_path):
    url, inbox = server
    (inbox / "keys.md").write_text("Signing keys rotate every ninety days.")
    client = get_client(url=url)

    done = await client.runs.wait(None, "rankwise-ingest", input={"paths": ["keys.md"]})
    assert done["report"]["added"] == 1 and done["summary"].startswith("1 files: 1 chunks")

    refused = await client.runs.wait(None, "rankwise-ingest", raise_error=False,
                                     input={"paths": [str(tmp_path)]})
    assert "outside the folders" in json.dumps(refused)
    found = await client.runs.wait(None, "rankwise", context={"strategy": "none"},
                                   input={"question": "How often do signing keys rotate?"})
    assert any(p["source"].endswith("inbox/keys.md") for p in found["passages"])
