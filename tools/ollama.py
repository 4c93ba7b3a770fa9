"""Calls to Ollama with bounded retries for transient faults and errors that say what to do."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any, NoReturn, TypeVar

import httpx
from ollama import ResponseError
from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from .errors import ModelNotFoundError, OllamaRequestError, OllamaUnavailableError

T = TypeVar("T")

@cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def client_kwargs(timeout: float) -> dict[str, Any]:
    """httpx options for Ollama clients; one SSL context for all of them, so a new client
    costs microseconds instead of reloading the CA bundle (~50 ms)."""
    return {"timeout": timeout, "verify": _ssl_context()}


_TRANSIENT_HTTPX = (httpx.ConnectError, httpx.TimeoutException, httpx.RemoteProtocolError)


def is_transient(exc: BaseException) -> bool:
    """True for faults a retry can cure: refused connection, timeout, 5xx."""
    if isinstance(exc, ResponseError):
        return exc.status_code >= 500 or exc.status_code in (408, 429)
    return isinstance(exc, (ConnectionError, *_TRANSIENT_HTTPX)) and not isinstance(
        exc, OllamaUnavailableError
    )


def translate(exc: BaseException, *, host: str, model: str) -> Exception:
    """Turn a low-level failure into a rankwise error naming the fix."""
    if isinstance(exc, ResponseError):
        if exc.status_code == 404:
            return ModelNotFoundError(
                f"model {model!r} is not pulled on the Ollama server at {host}: "
                f"run `ollama pull {model}` (Ollama said: {exc.error})"
            )
        if is_transient(exc):
            return OllamaUnavailableError(
                f"Ollama at {host} kept failing with HTTP {exc.status_code} for model "
                f"{model!r} ({exc.error}); check the server's log, then retry"
            )
        return OllamaRequestError(
            f"Ollama at {host} rejected the request for model {model!r} with HTTP "
            f"{exc.status_code}: {exc.error}"
        )
    if isinstance(exc, httpx.TimeoutException):
        return OllamaUnavailableError(
            f"Ollama at {host} did not answer in time for model {model!r}: raise "
            "RANKWISE_REQUEST_TIMEOUT or check that the server is not overloaded"
        )
    if is_transient(exc):
        return OllamaUnavailableError(
            f"cannot reach Ollama at {host}: start it with `ollama serve`, or set "
            "OLLAMA_HOST to the server's URL"
        )
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


def _retry_kwargs(attempts: int) -> dict:
    return {
        "retry": retry_if_exception(is_transient),
        "stop": stop_after_attempt(attempts),
        "wait": wait_exponential_jitter(multiplier=0.2, max=4.0),
        "reraise": True,
    }


def _raise_translated(exc: Exception, host: str, model: str) -> NoReturn:
    translated = translate(exc, host=host, model=model)
    if translated is exc:
        raise exc
    raise translated from exc


def call_with_retry(fn: Callable[[], T], *, host: str, model: str, attempts: int) -> T:
    """Run `fn`, retrying transient faults with backoff; raise a rankwise error otherwise."""
    try:
        return Retrying(**_retry_kwargs(attempts))(fn)
    except Exception as exc:
        _raise_translated(exc, host, model)


async def acall_with_retry(
    fn: Callable[[], Awaitable[T]], *, host: str, model: str, attempts: int
) -> T:
    """Async twin of `call_with_retry`; `fn` makes a fresh awaitable per attempt."""
    try:
        async for attempt in AsyncRetrying(**_retry_kwargs(attempts)):
            with attempt:
                return await fn()
    except Exception as exc:
        _raise_translated(exc, host, model)
    raise AssertionError("unreachable: the retry loop returns or raises")

