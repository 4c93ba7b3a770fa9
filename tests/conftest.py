"""Shared fixtures: a real Ollama-protocol server and real Milvus Lite files."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))

from fake_ollama import FakeOllama, shared_words  # noqa: E402
from rankwise.tools import KnowledgeBase, Settings  # noqa: E402

for name, value in {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "OTEL_SDK_DISABLED": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "CREWAI_STORAGE_DIR": "rankwise-tests",
}.items():
    os.environ.setdefault(name, value)


@pytest.fixture(scope="session")
def ollama():
    """One Ollama-protocol server for the session; faults are reset per test."""
    with FakeOllama() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_ollama(request):
    if "ollama" in request.fixturenames:
        server = request.getfixturevalue("ollama")
        server.faults.clear()
        server.requests.clear()
        server.latency = 0.0
        server.per_item = 0.0
        server.chat_latency = 0.0
        server.max_in_flight = 0
        server.parallel = None
        server.fail_rate = 0.0
        server.poisoned = ""
        server.busy_seconds = 0.0
        server.context_length = 8192
        server.embed_models = {"nomic-embed-text": 256}
        server.chat_models = {"llama3.2"}
        server.chat_reply = lambda body: "OK"
        server.rerank_models = {"bge-reranker"}
        server.rerank_score = shared_words
        server.rerank_format = "cohere"


@pytest.fixture
def settings(ollama, tmp_path) -> Settings:
    return Settings(
        ollama_host=ollama.url,
        milvus_uri=str(tmp_path / "kb.db"),
        collection="test",
        request_timeout=5.0,
        chunk_size=200,
        chunk_overlap=40,
        embed_batch_size=8,
    )


@pytest.fixture
def kb(settings) -> KnowledgeBase:
    return KnowledgeBase(settings)


@pytest.fixture
def refused_url() -> str:
    """A URL on which nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def docs(tmp_path) -> Path:
    """A small corpus of Markdown, text, reST and HTML files."""
    root = tmp_path / "docs"
    (root / "guide").mkdir(parents=True)
    (root / "guide" / "install.md").write_text(
        "# Installing\n\nInstall the package with pip. The installer needs Python 3.10.\n\n"
        "## Upgrading\n\nUpgrade with pip install --upgrade; the database migrates itself.\n"
    )
    (root / "guide" / "keys.rst").write_text(
        "Rotating keys\n=============\n\nRotate the signing keys every ninety days. "
        "Old keys stay valid for one week after rotation.\n"
    )
    (root / "notes.txt").write_text(
        "The cafeteria serves soup on Mondays and fish on Fridays. Coffee is free.\n"
    )
    (root / "page.html").write_text(
        "<html><head><title>Backups</title><style>p{color:red}</style></head><body>"
        "<h1>Backups</h1><p>Nightly backups run at two in the morning and are kept "
        "for thirty days.</p><script>var x = 1;</script></body></html>"
    )
    return root
