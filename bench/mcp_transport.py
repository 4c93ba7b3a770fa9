"""A `retrieve` call through `rankwise mcp` over streamable HTTP, against the same call
in-process (the anchor) and against a one-shot `rankwise search` process.

    python bench/mcp_transport.py [--passages 2000] [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from _support import corpus, ollama_server, percentile, queries
from langchain_core.documents import Document
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from rankwise.tools import KnowledgeBase, RetrieveTool, Settings

RANKWISE = str(Path(sys.executable).with_name("rankwise"))  # the venv's `rankwise` command


def timed(samples: list[float], started: float) -> None:
    samples.append(time.perf_counter() - started)


async def through_mcp(url: str, texts: list[str], calls: int) -> list[float]:
    samples: list[float] = []
    async with streamablehttp_client(url) as (read, write, _), \
            ClientSession(read, write) as session:
        await session.initialize()
        for n in range(calls):
            started = time.perf_counter()
            await session.call_tool("retrieve", {"query": texts[n % len(texts)], "k": 5})
            timed(samples, started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--passages", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=200)
    options = parser.parse_args()
    texts = [q["text"] for q in queries()]
    with ollama_server() as url, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(ollama_host=url, milvus_uri=str(Path(tmp, "kb.db")))
        kb = KnowledgeBase(settings)
        kb.add_documents(Document(page_content=r["text"], metadata={"source": r["_id"]})
                         for r in corpus(options.passages))
        tool, local = RetrieveTool(knowledge_base=kb, k=5), []

        def call(n: int) -> None:
            tool.invoke({"name": "retrieve", "args": {"query": texts[n % len(texts)]},
                         "id": uuid.uuid4().hex, "type": "tool_call"})

        warm_until = time.perf_counter() + 15  # Milvus Lite builds HNSW after an ingest
        while time.perf_counter() < warm_until:
            call(0)
        for n in range(options.calls):
            started = time.perf_counter()
            call(n)
            timed(local, started)
        kb.close()

        env = {**os.environ, "OLLAMA_HOST": url, "RANKWISE_MILVUS_URI": settings.milvus_uri}
        one_shot = []
        for n in range(5):
            started = time.perf_counter()
            subprocess.run([RANKWISE, "search", texts[n], "-k", "5"], env=env, check=True,
                           capture_output=True)
            timed(one_shot, started)

        port = 8700 + os.getpid() % 200
        server = subprocess.Popen([RANKWISE, "mcp", "--http", str(port)], env=env,
                                  stderr=subprocess.DEVNULL)
        endpoint = f"http://127.0.0.1:{port}/mcp"
        try:
            for _ in range(300):
                try:
                    httpx.get(endpoint, timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            remote = asyncio.run(through_mcp(endpoint, texts, options.calls + 20))[20:]
        finally:
            server.terminate()
            server.wait()

    print(f"retrieve, k=5, {options.passages} passages, {options.calls} calls (ms):")
    for label, values in (("in-process tool call (anchor)", local),
                          ("through rankwise mcp over HTTP", remote),
                          ("one-shot `rankwise search` process", one_shot)):
        print(f"  {label:36s} p50 {percentile(values, .5) * 1000:8.2f}  "
              f"p95 {percentile(values, .95) * 1000:8.2f}")
    overhead = (percentile(remote, .5) - percentile(local, .5)) * 1000
    print(f"  MCP transport overhead at p50: {overhead:.2f} ms (goal < 5 ms); "
          f"{percentile(remote, .5) / percentile(local, .5):.2f} x the anchor")


if __name__ == "__main__":
    main()
