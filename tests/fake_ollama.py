"""A real HTTP server on 127.0.0.1 that speaks Ollama's protocol, for tests and benchmarks.

Embeddings are a deterministic hashed bag of words, so texts sharing words land near
each other. Faults are scripted per endpoint: HTTP errors, delays, dropped connections.
A model's compute time is simulated as `latency` per request plus `per_item` per embedded
text, with at most `parallel` requests computed at once (Ollama's OLLAMA_NUM_PARALLEL).

Run it alone with `python tests/fake_ollama.py --latency 0.05`: it prints its URL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_WORD = re.compile(r"[a-z0-9]+")


def shared_words(query: str, document: str) -> float:
    """A relevance score for the rerank API: the share of the query's words in the
    document."""
    words = set(re.findall(r"\w+", query.lower()))
    return len(words & set(re.findall(r"\w+", document.lower()))) / max(1, len(words))


def bag_of_words_vector(text: str, dim: int) -> list[float]:
    """Unit vector of hashed word counts (sign-hashed to spread collisions)."""
    vector = [0.0] * dim
    for word in _WORD.findall(text.lower()):
        digest = hashlib.md5(word.encode()).digest()
        index = int.from_bytes(digest[:4], "little") % dim
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        vector[0] = 1.0
        return vector
    return [v / norm for v in vector]


@dataclass
class Fault:
    """One scripted misbehaviour for one request."""

    status: int | None = None  # answer with this HTTP status
    delay: float = 0.0  # sleep first (a slow server, or a timeout)
    drop: bool = False  # close the connection without answering
    reset: bool = False  # reset the connection (TCP RST): the client reads ECONNRESET
    body: dict | None = None  # error body to send with `status`
    raw: bytes | None = None  # answer 200 with these bytes as the body (garbage)
    vectors: str | None = None  # embeddings gone wrong: "nan", "zero", "short", "inf"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs under concurrent clients (1 s stalls)


class FakeOllama:
    """Start with `with FakeOllama() as server:`; `server.url` is its base URL."""

    def __init__(
        self,
        models: dict[str, int] | None = None,
        chat_models: tuple[str, ...] = ("llama3.2",),
        latency: float = 0.0,
        per_item: float = 0.0,
        parallel: int | None = None,
    ) -> None:
        self.embed_models = dict(models or {"nomic-embed-text": 256})
        self.chat_models = set(chat_models)
        self.latency = latency
        self.chat_latency = 0.0  # added to chat requests only
        self.per_item = per_item
        self.parallel = parallel
        self.faults: dict[str, deque[Fault]] = {}
        self.requests: list[tuple[str, dict]] = []
        self.context_length = 8192  # what /api/show says of every model
        self.in_flight = 0
        self.max_in_flight = 0
        self.busy_seconds = 0.0  # time spent computing (what a serial server is busy for)
        self.spans: list[tuple[float, float]] = []  # (start, end) of each request's work
        self.fail_rate = 0.0  # this share of embedding requests answers 503, at random
        self.poisoned = ""  # a text containing this always gets a NaN vector ("": none)
        self._chance = random.Random(0)
        # Answers chat requests: a string, or {"content": str, "logprobs": [...],
        # "tool_calls": [(name, arguments), ...]}.
        self.chat_reply: Callable[[dict], str | dict] = lambda body: "OK"
        # The /v1/rerank API of TEI, vLLM, llama.cpp, Jina, Cohere: the models it serves,
        # and a relevance score per (query, document); words shared, by default.
        self.rerank_models = {"bge-reranker"}
        self.rerank_score: Callable[[str, str], float] = shared_words
        self.rerank_format = "cohere"  # or "tei": a bare list of {"index", "score"}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def parallel(self) -> int | None:
        """Requests computed at once (None: any number); the rest wait their turn."""
        return self._parallel

    @parallel.setter
    def parallel(self, slots: int | None) -> None:
        self._parallel = slots
        self._compute = threading.BoundedSemaphore(slots) if slots else None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeOllama:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- scripting ----------------------------------------------------------------
    def script(self, path: str, *faults: Fault) -> None:
        """Queue faults for the next requests to `path` (one fault per request)."""
        self.faults.setdefault(path, deque()).extend(faults)

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def embedded_texts(self) -> list[str]:
        """Every text embedded, through Ollama's API or the OpenAI-compatible one."""
        return [t for p, body in self.requests if p in ("/api/embed", "/v1/embeddings")
                for t in (body["input"] if isinstance(body["input"], list) else [body["input"]])]

    # ---- protocol -----------------------------------------------------------------
    @contextmanager
    def _computing(self) -> Iterator[None]:
        """One request's work: in one of `parallel` slots, counted in `busy_seconds`."""
        with self._compute or nullcontext():
            started = time.perf_counter()
            try:
                yield
            finally:
                with self._lock:
                    self.busy_seconds += time.perf_counter() - started
                    self.spans.append((started, time.perf_counter()))

    def _simulate_compute(self, path: str, body: dict) -> None:
        items = body.get("input")
        cost = self.latency + self.per_item * (len(items) if isinstance(items, list) else 1)
        if "chat" in path:
            cost += self.chat_latency
        if cost:
            time.sleep(cost)

    def _answer(self, path: str, body: dict) -> tuple[int, Any]:
        if path == "/api/tags":
            names = [*self.embed_models, *self.chat_models]
            return 200, {"models": [{"name": f"{n}:latest", "model": f"{n}:latest"}
                                    for n in names]}
        if path == "/api/version":
            return 200, {"version": "0.12.0"}
        if path == "/api/stats":  # the test server's own: what it computed
            embeds = [span for span, (p, _) in zip(self.spans, self.requests) if p == "/api/embed"]
            gaps = [b[0] - a[1] for a, b in zip(embeds, embeds[1:])]
            return 200, {"busy_seconds": self.busy_seconds, "requests": self.count("/api/embed"),
                         "texts": len(self.embedded_texts()),
                         "idle_between_requests": sum(g for g in gaps if g > 0),
                         "largest_gaps": sorted((g, n) for n, g in enumerate(gaps))[-3:]}
        model = str(body.get("model", "")).removesuffix(":latest")
        if path == "/api/embed":
            if model not in self.embed_models:
                return 404, {"error": f'model "{model}" not found, try pulling it first'}
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            dim = self.embed_models[model]
            return 200, {"model": model,
                         "embeddings": [self._vector(t, dim) for t in texts]}
        if path == "/api/show":
            if model not in self.embed_models and model not in self.chat_models:
                return 404, {"error": f'model "{model}" not found'}
            return 200, {"model_info": {"general.architecture": "fake",
                                        "fake.context_length": self.context_length}}
        if path == "/api/chat":
            if model not in self.chat_models:
                return 404, {"error": f'model "{model}" not found, try pulling it first'}
            return 200, self._chat(model, body)
        if path == "/v1/chat/completions":
            if model not in self.chat_models:
                return 404, {"error": {"message": f"model '{model}' not found"}}
            return 200, self._openai_chat(model, body)
        if path == "/v1/embeddings":
            if model not in self.embed_models:
                return 404, {"error": {"message": f"model '{model}' not found"}}
            return 200, self._openai_embeddings(model, body)
        if path == "/v1/rerank":
            if model not in self.rerank_models:
                return 404, {"error": {"message": f"model '{model}' not found"}}
            return 200, self._rerank(body)
        return 404, {"error": f"unknown path {path}"}

    def _rerank(self, body: dict) -> dict | bytes:
        """Results best first, cut at top_n, documents left out: Cohere's shape, or TEI's."""
        scores = [self.rerank_score(body["query"], text) for text in body["documents"]]
        best = sorted(range(len(scores)), key=lambda i: -scores[i])[:body.get("top_n") or None]
        if self.rerank_format == "tei":  # a JSON array (a list here would be NDJSON)
            return json.dumps([{"index": i, "score": scores[i]} for i in best]).encode()
        return {"results": [{"index": i, "relevance_score": scores[i]} for i in best]}

    def _vector(self, text: str, dim: int) -> list[float]:
        if self.poisoned and self.poisoned in text:
            return [math.nan] * dim
        return bag_of_words_vector(text, dim)

    def _openai_embeddings(self, model: str, body: dict) -> dict:
        """Ollama's OpenAI-compatible /v1/embeddings: floats, or base64 float32 (the
        openai SDK's default)."""
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = [self._vector(t, self.embed_models[model]) for t in texts]
        as_base64 = body.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": n,
                 "embedding": base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode()
                 if as_base64 else v} for n, v in enumerate(vectors)]
        return {"object": "list", "model": model, "data": data,
                "usage": {"prompt_tokens": 1, "total_tokens": 1}}

    def _openai_chat(self, model: str, body: dict) -> dict | str:
        """The OpenAI-compatible reply Ollama gives on /v1 (what CrewAI's LLM and
        langchain-openai call): one JSON object, or server-sent events when streaming."""
        answer = self.chat_reply(body)
        if isinstance(answer, str):
            answer = {"content": answer}
        calls = [{"id": f"call_{n}", "type": "function",
                  "function": {"name": name, "arguments": json.dumps(args)}}
                 for n, (name, args) in enumerate(answer.get("tool_calls", []))]
        content, finish = answer.get("content", ""), "tool_calls" if calls else "stop"
        logprobs = {"content": answer["logprobs"]} if body.get("logprobs") and answer.get(
            "logprobs") else None
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        head = {"id": "chatcmpl-fake", "created": 0, "model": model}
        if body.get("stream"):
            pieces = re.findall(r"\S+\s*|\s+", content) or [""]
            deltas = [{"role": "assistant", "content": piece} for piece in pieces]
            deltas += [{"tool_calls": [{"index": n, **call}]} for n, call in enumerate(calls)]
            events = [{**head, "object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                      for delta in deltas]
            events.append({**head, "object": "chat.completion.chunk",
                           "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
                           "usage": usage})
            return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        message = {"role": "assistant", "content": content,
                   **({"tool_calls": calls} if calls else {})}
        return {**head, "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": finish,
                             "logprobs": logprobs}], "usage": usage}

    def _chat(self, model: str, body: dict) -> dict | list[dict]:
        """A reply from `chat_reply`: one JSON object, or NDJSON chunks when streaming."""
        answer = self.chat_reply(body)
        if isinstance(answer, str):
            answer = {"content": answer}
        content, logprobs = answer.get("content", ""), answer.get("logprobs")
        tool_calls = [{"function": {"name": name, "arguments": args}}
                      for name, args in answer.get("tool_calls", [])]
        if not body.get("logprobs"):
            logprobs = None
        prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        pieces = re.findall(r"\S+\s*|\s+", content) or [""]
        final = {"model": model, "done": True, "done_reason": "stop",
                 "prompt_eval_count": max(1, len(prompt) // 4), "eval_count": len(pieces)}
        calls = {"tool_calls": tool_calls} if tool_calls else {}
        if not body.get("stream", True):
            message = {"role": "assistant", "content": content, **calls}
            return {**final, "message": message, **({"logprobs": logprobs} if logprobs else {})}
        chunks = [{"model": model, "done": False,
                   "message": {"role": "assistant", "content": piece, **(calls if n == 0 else {})},
                   **({"logprobs": logprobs} if logprobs and n == 0 else {})}
                  for n, piece in enumerate(pieces)]
        return [*chunks, {**final, "message": {"role": "assistant", "content": ""}}]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                with fake._lock:
                    fake.requests.append((self.path, body))
                    queue = fake.faults.get(self.path)
                    fault = queue.popleft() if queue else None
                    if fault is None and self.path == "/api/embed" and fake.fail_rate and \
                            fake._chance.random() < fake.fail_rate:
                        fault = Fault(status=503, body={"error": "server busy"})
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    with fake._computing():
                        answer = self._compute_answer(fault, body)
                    if answer is None:
                        return
                    status, kind, data = answer
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def _compute_answer(self, fault: Fault | None, body: dict
                                ) -> tuple[int, str, bytes] | None:
                """(status, content type, body), or None when the connection was dropped."""
                fake._simulate_compute(self.path, body)
                if fault and fault.delay:
                    time.sleep(fault.delay)
                if fault and fault.reset:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.close_connection = True
                    return None
                if fault and fault.drop:
                    self.close_connection = True
                    return None
                if fault and fault.raw is not None:
                    return 200, "application/json", fault.raw
                if fault and fault.status:
                    status, payload = fault.status, fault.body or {"error": "scripted fault"}
                else:
                    status, payload = fake._answer(self.path, body)
                    if fault and fault.vectors and status == 200:
                        payload = _spoil(payload, fault.vectors)
                if isinstance(payload, bytes):
                    return status, "application/json", payload
                if isinstance(payload, str):
                    return status, "text/event-stream", payload.encode()
                if isinstance(payload, list):
                    lines = b"".join(json.dumps(line).encode() + b"\n" for line in payload)
                    return status, "application/x-ndjson", lines
                return status, "application/json", json.dumps(payload).encode()

            do_GET = _serve
            do_POST = _serve

        return Handler


def _spoil(payload: dict, how: str) -> dict:
    """An embedding reply whose last vector went wrong."""
    vectors = payload["embeddings"]
    last = vectors[-1]
    vectors[-1] = {"nan": [math.nan, *last[1:]], "inf": [math.inf, *last[1:]],
                   "zero": [0.0] * len(last), "short": last[:-1]}[how]
    return payload


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--per-item", type=float, default=0.0)
    parser.add_argument("--parallel", type=int, default=None)
    parser.add_argument("--fail-rate", type=float, default=0.0,
                        help="share of embedding requests answered 503, at random")
    parser.add_argument("--seed", type=int, default=0, help="seed of the failures")
    parser.add_argument("--dim", type=int, default=768, help="embedding dimension")
    options = parser.parse_args()
    with FakeOllama(models={"nomic-embed-text": options.dim}, latency=options.latency,
                    per_item=options.per_item, parallel=options.parallel) as server:
        server.fail_rate = options.fail_rate
        server._chance.seed(options.seed)
        print(server.url, flush=True)
        threading.Event().wait()
