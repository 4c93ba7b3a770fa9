"""A dedicated rerank model (a cross-encoder such as bge-reranker) behind the `/v1/rerank`
API that TEI, vLLM, llama.cpp's server, Xinference, Jina, Cohere and Voyage serve: a query
and documents in, a relevance score per document out. Ollama has no such endpoint.

Documents go in batches (TEI refuses more than 32 per request by default), requests run
concurrently, transient faults are retried by the provider boundary, and a reply that
does not score every document it was sent is an error, never a silent reorder.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ...core.errors import InvalidArgumentError, ModelRequestError
from .boundary import Provider
from .ollama import client_kwargs


@dataclass(frozen=True)
class Scored:
    """One request's answer: the score of each document sent, and its latency."""

    positions: list[int]
    scores: list[float]
    latency: float


class RerankAPIProvider(Provider):
    name = "rerank API"


def endpoint_of(url: str) -> str:
    """The rerank endpoint for a server's base URL (`/v1/rerank` appended unless the URL
    already ends in `/rerank`)."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InvalidArgumentError(f"the rerank URL {url!r} needs http:// or https://, such as "
                                   "http://localhost:8080 (RANKWISE_RERANK_URL)")
    return url if url.endswith("/rerank") else f"{url}/v1/rerank"


class RerankAPI:
    """A client for one rerank model at `url`."""

    def __init__(self, url: str, model: str | None = None, *, api_key: str | None = None,
                 timeout: float = 60.0, attempts: int = 4, batch_size: int = 32,
                 concurrency: int = 4) -> None:
        self.endpoint, self.model = endpoint_of(url), model
        self.provider = RerankAPIProvider(model or "(the server's)", self.endpoint)
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout, self.attempts = timeout, attempts
        self.batch_size, self.concurrency = batch_size, concurrency

    async def score(self, query: str, documents: Sequence[str]) -> list[Scored]:
        """Every document's relevance to `query`, one `Scored` per request made."""
        batches = [list(range(start, min(start + self.batch_size, len(documents))))
                   for start in range(0, len(documents), self.batch_size)]
        gate = asyncio.Semaphore(self.concurrency)
        async with httpx.AsyncClient(**client_kwargs(self.timeout)) as client:
            async def one(positions: list[int]) -> Scored:
                async with gate:
                    started = time.perf_counter()
                    reply = await self.provider.acall(
                        lambda: self._post(client, query, [documents[i] for i in positions]),
                        self.attempts)
                    return Scored(positions, self._scores(reply, len(positions)),
                                  time.perf_counter() - started)

            return list(await asyncio.gather(*(one(batch) for batch in batches)))

    async def _post(self, client: httpx.AsyncClient, query: str, texts: list[str]) -> Any:
        body: dict[str, Any] = {"query": query, "documents": texts, "top_n": len(texts),
                                "return_documents": False}
        if self.model:
            body["model"] = self.model
        response = await client.post(self.endpoint, json=body, headers=self.headers)
        response.raise_for_status()
        return response.json()

    def _scores(self, reply: Any, count: int) -> list[float]:
        """The score of each of `count` documents from a reply: `{"results": [{"index",
        "relevance_score"}]}` (Cohere, Jina, vLLM, llama.cpp) or TEI's `[{"index",
        "score"}]`."""
        items = reply if isinstance(reply, list) else (
            reply.get("results") if isinstance(reply, dict) else None)
        scores: dict[int, float] = {}
        for item in items if isinstance(items, list) else []:
            index = item.get("index") if isinstance(item, dict) else None
            value = item.get("relevance_score", item.get("score")) if isinstance(
                item, dict) else None
            if isinstance(index, int) and 0 <= index < count and isinstance(
                    value, (int, float)) and math.isfinite(value):
                scores[index] = float(value)
        if len(scores) != count:
            raise ModelRequestError(
                f"the rerank API at {self.endpoint} scored {len(scores)} of the {count} "
                "documents sent: check that the URL serves a /v1/rerank API (TEI, vLLM, "
                "llama.cpp, Jina, Cohere) and that the model is a reranker")
        return [scores[i] for i in range(count)]
