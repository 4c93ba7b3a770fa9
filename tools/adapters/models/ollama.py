"""Ollama: its errors (a missing model means `ollama pull`), its context length from
`/api/show`, `num_ctx` sent with every rerank call, and log-probabilities."""

from __future__ import annotations

import ssl
from functools import cache
from typing import Any

import httpx
from langchain_core.messages import BaseMessage

from ...core.errors import ModelNotFoundError, OllamaRequestError, OllamaUnavailableError
from .boundary import GARBLED, Provider, garbled


@cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def client_kwargs(timeout: float) -> dict[str, Any]:
    """httpx options for Ollama clients; one SSL context for all of them, so a new client
    costs microseconds instead of reloading the CA bundle (~50 ms)."""
    return {"timeout": timeout, "verify": _ssl_context()}


def server_status(host: str, timeout: float) -> tuple[str, set[str]]:
    """The Ollama server's version and the models pulled on it (each name with and
    without `:latest`); `OllamaUnavailableError` when it cannot be asked."""
    try:
        with httpx.Client(**client_kwargs(min(timeout, 5.0))) as client:
            version = client.get(f"{host}/api/version")
            version.raise_for_status()
            tags = client.get(f"{host}/api/tags")
            tags.raise_for_status()
            names = {m.get("model") or m.get("name", "") for m in tags.json().get("models", [])}
            return (str(version.json().get("version")),
                    names | {n.removesuffix(":latest") for n in names})
    except (httpx.HTTPError, *GARBLED) as exc:
        raise OllamaUnavailableError(f"{host} unreachable: {exc}") from exc


class OllamaProvider(Provider):
    """An Ollama model on `host`."""

    name = "ollama"
    batches_queries = True  # its embed_query is embed_documents([text])[0]

    def __init__(self, model: str, host: str, timeout: float = 60.0, attempts: int = 4) -> None:
        super().__init__(model, host)
        self.host, self.timeout, self.attempts = host, timeout, attempts

    def is_transient(self, exc: BaseException) -> bool:
        from ollama import ResponseError

        if isinstance(exc, ResponseError):
            return exc.status_code >= 500 or exc.status_code in (408, 429)
        return super().is_transient(exc)  # rankwise's own errors are never transient

    def translate(self, exc: BaseException) -> BaseException:
        from ollama import ResponseError

        host, model = self.host, self.model
        if isinstance(exc, ResponseError):
            if exc.status_code == 404:
                return ModelNotFoundError(
                    f"model {model!r} is not pulled on the Ollama server at {host}: "
                    f"run `ollama pull {model}` (Ollama said: {exc.error})")
            if self.is_transient(exc):
                return OllamaUnavailableError(
                    f"Ollama at {host} kept failing with HTTP {exc.status_code} for model "
                    f"{model!r} ({exc.error}); check the server's log, then retry")
            return OllamaRequestError(
                f"Ollama at {host} rejected the request for model {model!r} with HTTP "
                f"{exc.status_code}: {exc.error}")
        if isinstance(exc, GARBLED):
            return garbled(f"Ollama at {host} (model {model!r})", exc)
        if isinstance(exc, httpx.TimeoutException):
            return OllamaUnavailableError(
                f"Ollama at {host} did not answer in time for model {model!r}: raise "
                "RANKWISE_REQUEST_TIMEOUT or check that the server is not overloaded")
        if self.is_transient(exc):
            return OllamaUnavailableError(
                f"cannot reach Ollama at {host}: start it with `ollama serve`, or set "
                "OLLAMA_HOST to the server's URL")
        return exc

    async def context_window(self) -> int | None:
        """The model's context length from `/api/show`; also the fail-fast check: a model
        that is not pulled raises `ModelNotFoundError` here, before any other call."""
        from ollama import AsyncClient

        client = AsyncClient(host=self.host, **client_kwargs(self.timeout))
        shown = await self.acall(lambda: client.show(self.model), self.attempts)
        info = shown.modelinfo or {}
        return next((int(v) for k, v in info.items() if k.endswith(".context_length")), None)

    def rerank_kwargs(self, *, num_ctx: int, max_tokens: int, logprobs: bool) -> dict[str, Any]:
        # Ollama truncates prompts beyond num_ctx silently (default 2,048): always send it.
        options = {"num_ctx": num_ctx, "temperature": 0, "num_predict": max_tokens}
        extra = {"logprobs": True, "top_logprobs": 5} if logprobs else {}
        return {"options": options, "stream": False, **extra}

    def token_alternatives(self, message: BaseMessage) -> list[list[dict[str, Any]]]:
        tokens = message.response_metadata.get("logprobs") or []
        return [token.get("top_logprobs") or [] for token in tokens]
