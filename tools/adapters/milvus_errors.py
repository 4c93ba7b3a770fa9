"""The Milvus adapter's error boundary, in httpx's `map_exceptions` habit: every call
that reads or writes a collection goes through `boundary`, and no pymilvus error reaches
the caller. A collection found unloaded (a server that just restarted) is loaded again
and the call retried; a server that stops answering is retried briefly with backoff;
everything else becomes a rankwise error that names the fix."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pymilvus.exceptions import MilvusException, MilvusUnavailableException
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential

from ..core.errors import FilterError, RankwiseError, StoreError, StoreUnavailableError
from ..core.vocabulary import BACKOFF_FIRST, BACKOFF_MAX

if TYPE_CHECKING:
    from .milvus import MilvusStore

T = TypeVar("T")

UNREACHABLE_WAIT = 10.0  # seconds a server that stopped answering gets to come back
UNLOADED_WAIT = 60.0  # seconds a restarted server gets to load the collection again
_EXPRESSION = ("parse expression", "query plan", "invalid expression", "cannot parse",
               "unsupported", "field not exist", "not exist in schema", "too large to convert",
               "out of range")


class _Translated(logging.Filter):
    """Drops a library's log of a failure that reaches the caller as a rankwise error
    anyway: pymilvus logs every failed call and reconnection, and Milvus Lite's server
    every failed request, each with a traceback that would print before rankwise's line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (record.exc_info or message.startswith(("RPC error", "Connection recovery")))


for _name in ("pymilvus.decorators", "pymilvus.client.connection_manager",
              "milvus_lite.adapter.grpc.servicer"):
    logging.getLogger(_name).addFilter(_Translated())


def _said(exc: BaseException) -> str:
    return str(getattr(exc, "message", None) or exc).strip() or type(exc).__name__


def unreachable(exc: BaseException) -> bool:
    said = _said(exc).lower()
    return isinstance(exc, MilvusUnavailableException) or isinstance(exc, MilvusException) and (
        "fail connecting" in said or "server unavailable" in said
        or "connection refused" in said or "deadline exceeded" in said)


def unloaded(exc: BaseException) -> bool:
    said = _said(exc).lower()
    return isinstance(exc, MilvusException) and (
        getattr(exc, "code", None) == 101 or "not loaded" in said or "call load()" in said)


def translated(exc: BaseException, store: MilvusStore, action: str) -> RankwiseError:
    """The rankwise error for a failed `action` on `store`'s collection."""
    where, said = store.describe_location(), _said(exc)
    if unreachable(exc):
        return StoreUnavailableError(
            f"the Milvus server at {where} stopped answering while {action} ({said}); start "
            "it again (rankwise waits a few seconds for it), or check RANKWISE_MILVUS_URI")
    if unloaded(exc):
        return StoreUnavailableError(
            f"collection {store.name!r} at {where} could not be loaded again while {action} "
            f"({said}); check the server's log and memory, then retry")
    lowered = said.lower()
    if "database" in lowered and "not exist" in lowered:
        return StoreError(f"{said} at {where}: check RANKWISE_MILVUS_DB, or create the "
                          "database on the server")
    if "no space left" in lowered or "disk quota" in lowered:
        return StoreError(f"the disk holding {where} is full while {action}: free space, "
                          "then run the same command again (nothing stored is lost)")
    if isinstance(exc, OverflowError) or any(word in lowered for word in _EXPRESSION):
        return FilterError(f"Milvus cannot use this filter while {action} ({said}): check "
                           "field names, operators and that numbers fit 64 bits")
    damaged = store.settings.milvus_is_local and where in said  # a file inside the folder
    fix = ("; the Milvus Lite file is damaged (a disk error, a copy cut short): restore it "
           "from a backup, or ingest again into a new one (RANKWISE_MILVUS_URI)"
           if damaged else "")
    return StoreError(f"Milvus failed while {action} on collection {store.name!r} at "
                      f"{where}: {said}{fix}")


def boundary(action: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a `MilvusStore` method doing `action` ("searching", ...): pymilvus errors
    become rankwise errors; an unloaded collection is reloaded and an unreachable server
    waited for, with backoff, before the call is tried again."""
    def decorate(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def guarded(store: MilvusStore, *args: Any, **kwargs: Any) -> T:
            def give_up(state: RetryCallState) -> bool:
                error = state.outcome.exception() if state.outcome else None
                limit = UNLOADED_WAIT if error is not None and unloaded(error) else (
                    UNREACHABLE_WAIT)
                return (state.seconds_since_start or 0.0) >= limit

            def recover(state: RetryCallState) -> None:
                error = state.outcome.exception() if state.outcome else None
                try:
                    if error is not None and unloaded(error):
                        store.client.load_collection(store.name)
                    elif error is not None:  # a restarted server needs a new connection
                        store.reconnect()
                except (MilvusException, StoreError):
                    pass  # still loading, or still down: the next try says which

            try:
                return Retrying(retry=retry_if_exception(lambda e: unloaded(e) or unreachable(e)),
                                stop=give_up, wait=wait_exponential(multiplier=BACKOFF_FIRST,
                                                                    max=BACKOFF_MAX),
                                before_sleep=recover, reraise=True)(method, store, *args, **kwargs)
            except RankwiseError:
                raise
            except (MilvusException, OverflowError, UnicodeError) as exc:
                raise translated(exc, store, action) from exc
        return guarded
    return decorate
