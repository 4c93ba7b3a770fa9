"""Between sync and async: running a coroutine from synchronous code (inside a running
event loop or not), and the async twin of a blocking function."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, or the same on a worker thread when this thread already runs a loop
    (a notebook cell, an async framework calling sync code)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def in_thread(function: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
    """The async twin of a blocking `function` (the same arguments, typed alike): it runs
    on a worker thread, so the event loop keeps serving meanwhile."""
    @functools.wraps(function)
    async def twin(*args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(function, *args, **kwargs)

    twin.__name__, twin.__qualname__ = f"a{function.__name__}", f"a{function.__qualname__}"
    twin.__doc__ = f"`{function.__name__}` from async code, on a worker thread."
    return twin
