"""One error boundary per provider, in the spirit of httpx's `map_exceptions`: transient
faults are retried with bounded backoff, everything else becomes a rankwise error that
names the fix. `Provider` is the generic behaviour (OpenAI-style SDKs and httpx); Ollama
and OpenAI refine it in their own modules."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import httpx
from langchain_core.messages import BaseMessage
from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ...core.errors import (
    ModelNotFoundError,
    ModelRequestError,
    ModelUnavailableError,
    RankwiseError,
)
from ...core.vocabulary import BACKOFF_FIRST, BACKOFF_MAX

T = TypeVar("T")

# Exception class names shared by the OpenAI, Anthropic, Mistral... SDKs (Stainless-made)
# for faults a retry can cure; matched by name so that no SDK has to be imported.
_TRANSIENT_NAMES = frozenset({"APIConnectionError", "APITimeoutError", "RateLimitError",
                              "InternalServerError", "ServiceUnavailableError"})
_TRANSIENT_HTTPX = (httpx.TransportError,)  # connect, read, write, timeouts, protocol
# A reply that is not JSON (or not text): a restarting server or a proxy's error page.
GARBLED = (json.JSONDecodeError, UnicodeDecodeError)
_AUTH_STATUS = (401, 403)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an SDK exception carries, if any."""
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


class Provider:
    """How one provider's model fails, what it supports, and how it is called."""

    name = "generic"
    batches_queries = False
    """Whether the client embeds a query as a document of one text, so that many queries
    go in one request (a generic Embeddings may treat queries apart)."""

    def __init__(self, model: str, where: str | None = None) -> None:
        self.model = model
        self.where = where or "its server"

    # ---- errors -------------------------------------------------------------------
    def is_transient(self, exc: BaseException) -> bool:
        """True for faults a retry can cure: refused connection, timeout, 429, 5xx."""
        if isinstance(exc, RankwiseError):
            return False
        status = status_of(exc)
        if status is not None:
            return status >= 500 or status in (408, 409, 429)
        return isinstance(exc, (ConnectionError, TimeoutError, *_TRANSIENT_HTTPX, *GARBLED)) or any(
            cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__)

    def translate(self, exc: BaseException) -> BaseException:
        """A rankwise error naming the fix, or `exc` itself when it is not the model's."""
        if isinstance(exc, RankwiseError):
            return exc
        status, label = status_of(exc), f"{self.name} model {self.model!r} at {self.where}"
        if status == 404:
            return ModelNotFoundError(f"{label} was not found ({_said(exc)}): check the model "
                                      "name and the base URL")
        if status in _AUTH_STATUS:
            return ModelRequestError(f"{label} refused the credentials (HTTP {status}): set "
                                     "the API key (RANKWISE_API_KEY or the provider's own "
                                     "variable, such as OPENAI_API_KEY)")
        if isinstance(exc, GARBLED):
            return garbled(label, exc)
        if self.is_transient(exc):
            return ModelUnavailableError(f"{label} could not be reached or kept failing "
                                         f"({_said(exc)}); check the server and retry")
        if status is not None and 400 <= status < 500:
            return ModelRequestError(f"{label} rejected the request with HTTP {status}: "
                                     f"{_said(exc)}")
        return exc

    # ---- features -----------------------------------------------------------------
    async def context_window(self) -> int | None:
        """The model's context in tokens when the server tells it; None otherwise."""
        return None

    def rerank_kwargs(self, *, num_ctx: int, max_tokens: int, logprobs: bool) -> dict[str, Any]:
        """Per-call arguments for a short, deterministic rerank reply."""
        return {}

    def token_alternatives(self, message: BaseMessage) -> list[list[dict[str, Any]]]:
        """Each reply token's likeliest alternatives ({"token", "logprob"}), when the reply
        has log-probabilities; empty otherwise."""
        return []

    # ---- calls --------------------------------------------------------------------
    def _retrying(self, attempts: int, also: type[Exception] | None) -> dict[str, Any]:
        def retryable(exc: BaseException) -> bool:
            return self.is_transient(exc) or (also is not None and isinstance(exc, also))

        return {"retry": retry_if_exception(retryable),
                "stop": stop_after_attempt(attempts),
                "wait": wait_exponential_jitter(multiplier=BACKOFF_FIRST, max=BACKOFF_MAX),
                "reraise": True}

    def raise_translated(self, exc: BaseException) -> NoReturn:
        clear = self.translate(exc)
        if clear is exc:
            raise exc
        raise clear from exc

    def call(self, fn: Callable[[], T], attempts: int,
             retry_also: type[Exception] | None = None) -> T:
        """`fn()`, transient faults (and `retry_also`) retried with backoff, the rest
        translated."""
        try:
            return Retrying(**self._retrying(attempts, retry_also))(fn)
        except Exception as exc:
            self.raise_translated(exc)

    async def acall(self, fn: Callable[[], Awaitable[T]], attempts: int) -> T:
        """Async `call`; `fn` makes a fresh awaitable per attempt."""
        try:
            async for attempt in AsyncRetrying(**self._retrying(attempts, None)):
                with attempt:
                    return await fn()
        except Exception as exc:
            self.raise_translated(exc)
        raise AssertionError("unreachable: the retry loop returns or raises")


def timed_out(exc: BaseException) -> bool:
    """True when `exc`, or what it was translated from, is a timeout."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, (httpx.TimeoutException, TimeoutError)) or type(
                cause).__name__ == "APITimeoutError":
            return True
        cause = cause.__cause__
    return False


def garbled(label: str, exc: BaseException) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"{label} kept answering with a reply that is not JSON ({type(exc).__name__}); "
        "check that the URL points at the model server, and the server's log")


def _said(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:300] + " …") if len(text) > 300 else (text or type(exc).__name__)
