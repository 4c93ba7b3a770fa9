"""Ollama embeddings (through langchain-ollama) with retries and clear errors."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from .ollama import call_with_retry, client_kwargs
from .settings import Settings


class Embedder(Embeddings):
    """`OllamaEmbeddings` that retries transient faults and names the fix for the rest.

    One call embeds one batch in one request; batching and concurrency are the
    caller's (see `rankwise.tools.ingest`).
    """

    def __init__(self, settings: Settings) -> None:
        from langchain_ollama import OllamaEmbeddings  # deferred: costs ~0.5 s to import

        self.model = settings.embed_model
        self.host = settings.ollama_host
        self._attempts = settings.retry_attempts
        self._client = OllamaEmbeddings(
            model=settings.embed_model,
            base_url=settings.ollama_host,
            client_kwargs=client_kwargs(settings.request_timeout),
        )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = call_with_retry(
            lambda: self._client.embed_documents(texts),
            host=self.host,
            model=self.model,
            attempts=self._attempts,
        )
        if len(vectors) != len(texts):
            raise RuntimeError(
                f"Ollama returned {len(vectors)} embeddings for {len(texts)} texts "
                f"(model {self.model!r})"
            )
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]
