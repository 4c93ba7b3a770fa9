"""The `rankwise` command, run as users run it: a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from rankwise.cli.app import parse_filters

pytestmark = pytest.mark.slow  # real processes


def rankwise(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rankwise.cli.app", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def env(ollama, tmp_path) -> dict[str, str]:
    return {**os.environ, "OLLAMA_HOST": ollama.url,
            "RANKWISE_MILVUS_URI": str(tmp_path / "cli.db"), "RANKWISE_CHUNK_SIZE": "300"}


def test_ingest_then_search_as_json(env, docs):
    (docs / "broken.txt").write_bytes(b"\xff\xfe\x00binary")

    ingested = rankwise("ingest", str(docs), "--quiet", env=env)

    assert ingested.returncode == 1, "a skipped file makes the run incomplete"
    assert "4 files:" in ingested.stdout and "1 skipped" in ingested.stdout
    assert "skipped:" in ingested.stderr and "broken.txt" in ingested.stderr

    again = rankwise("ingest", str(docs), "-q", env=env)
    assert "0 chunks added" in again.stdout and "0 removed" in again.stdout

    found = rankwise("search", "rotate signing keys", "-k", "2", "--json", env=env)
    hits = json.loads(found.stdout)
    assert len(hits) == 2 and hits[0]["source"].endswith("keys.rst")

    filtered = rankwise("search", "keys", "--filter", 'source=x" or source != "', "--json",
                        env=env)
    assert json.loads(filtered.stdout) == []


def test_progress_bar_reports_files_and_chunks(env, docs):
    result = rankwise("ingest", str(docs), env=env)
    assert result.returncode == 0
    assert "4/4" in result.stderr and "chunks/s" in result.stderr


def test_errors_are_one_clear_line_and_exit_1(env, docs, refused_url):
    down = rankwise("ingest", str(docs), "-q", env={**env, "OLLAMA_HOST": refused_url,
                                                     "RANKWISE_RETRY_ATTEMPTS": "1"})
    assert down.returncode == 1
    assert "cannot reach Ollama" in down.stderr and "ollama serve" in down.stderr
    assert "Traceback" not in down.stderr

    empty = rankwise("search", "   ", env=env)
    assert empty.returncode == 1 and "query is empty" in empty.stderr
    assert "Traceback" not in empty.stderr

    missing = rankwise("ingest", "/no/such/dir", env=env)
    assert missing.returncode == 1 and "no such file or directory" in missing.stderr


def test_doctor_passes_on_a_healthy_setup(env, docs):
    rankwise("ingest", str(docs), "-q", env=env)
    result = rankwise("doctor", env=env)
    assert result.returncode == 0, result.stdout
    assert "256 dimensions" in result.stdout and "chunks from 4 sources" in result.stdout
    assert "BM25 terms: Han text segmented into words by jieba, other words lower-cased, english" \
        " stopwords dropped, Snowball english stems" in result.stdout
    assert "Milvus Lite milvus_lite-" in result.stdout and "BM25 full-text search" in result.stdout


def test_doctor_names_each_fix(env, refused_url):
    down = rankwise("doctor", env={**env, "OLLAMA_HOST": refused_url})
    assert down.returncode == 1
    assert "FAIL ollama" in down.stdout and "ollama serve" in down.stdout

    unpulled = rankwise("doctor", env={**env, "RANKWISE_EMBED_MODEL": "bge-m3"})
    assert unpulled.returncode == 1
    assert "fix: run `ollama pull bge-m3`" in unpulled.stdout


def test_filter_arguments_parse_into_typed_conditions():
    assert parse_filters(["source=a.md", "page>=2", "page<5", "draft=false"]) == {
        "source": {"$eq": "a.md"}, "page": {"$gte": 2, "$lt": 5}, "draft": {"$eq": False}}
    assert parse_filters(['{"lang": ["en", "de"]}']) == {"lang": ["en", "de"]}
    assert parse_filters(["title=[draft]"]) == {"title": {"$eq": "[draft]"}}


def test_ask_prints_the_answer_then_its_sources_and_keeps_threads(env, docs, ollama, tmp_path):
    from judges import Judge, ScriptedModel

    ollama.chat_reply = ScriptedModel(Judge(lambda q, p: 3.0 if "ninety" in p else 0.0),
                                      answer=lambda q, p: "Every ninety days [1].")
    env = {**env, "RANKWISE_THREADS_DB": str(tmp_path / "threads.sqlite")}
    rankwise("ingest", str(docs), "-q", env=env)

    result = rankwise("ask", "How often are keys rotated?", "--rerank", "pointwise",
                      "--thread", "t1", env=env)

    assert result.returncode == 0, result.stderr
    answer, sources = result.stdout.split("Sources:")
    assert answer.strip() == "Every ninety days [1]."
    assert "[1]" in sources and "keys.rst#0" in sources and "score=" in sources

    streamed = rankwise("ask", "And old keys?", "--stream", "--thread", "t1",
                        "--rerank", "none", env=env)
    assert streamed.stdout.startswith("Every ninety days [1].\n")
    prompt = [b for p, b in ollama.requests if p == "/api/chat"][-1]["messages"]
    assert "How often are keys rotated?" in [m["content"] for m in prompt]

    empty = rankwise("ask", " ", env=env)
    assert empty.returncode == 1 and "question is empty" in empty.stderr


def test_graph_prints_mermaid(env):
    result = rankwise("graph", "--mode", "agentic", env=env)
    assert result.returncode == 0
    assert "graph TD" in result.stdout and "tools" in result.stdout
