"""One question at a time per conversation, in one process and across processes.

Two asks on the same thread would each read the conversation, answer, and write it back:
the second write would drop the first turn. `conversation_lock` makes them take turns:
a lock per thread inside the process, and, for a conversation kept in a file that other
processes open too (the CLI's SQLite threads), an advisory lock on one byte of a lock
file beside it, chosen by the thread's name, so that other threads never wait.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from langgraph.checkpoint.base import BaseCheckpointSaver
from rankwise.tools.core.errors import StoreError

_LOCKS: weakref.WeakValueDictionary[tuple[str, str], threading.Lock] = (
    weakref.WeakValueDictionary())
_GUARD = threading.Lock()


def _local_lock(scope: str, thread: str) -> threading.Lock:
    with _GUARD:
        lock = _LOCKS.get((scope, thread))
        if lock is None:
            lock = _LOCKS[(scope, thread)] = threading.Lock()
        return lock


@contextmanager
def conversation_lock(thread: str, path: str | os.PathLike | None = None) -> Iterator[None]:
    """Hold conversation `thread` (kept in the file at `path`, if any) for one question."""
    scope = os.path.abspath(path) if path is not None else ""
    lock = _local_lock(scope, thread)  # referenced here, so it lives while held
    with lock:
        if path is None:
            yield
            return
        offset = int.from_bytes(hashlib.sha256(thread.encode()).digest()[:4], "big") >> 1
        fd = os.open(f"{scope}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX, 1, offset)
            try:
                yield
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)
        finally:
            os.close(fd)


@contextmanager
def sqlite_conversations(path: str | os.PathLike) -> Iterator[BaseCheckpointSaver]:
    """A LangGraph checkpointer keeping conversations in the SQLite file at `path`; a path
    that cannot hold one (a folder, a file that is not SQLite, a missing or read-only
    folder) is a `StoreError` naming the setting."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    def unusable(why: str) -> StoreError:
        return StoreError(f"cannot keep conversations in {os.fspath(path)!r} ({why}): "
                          "RANKWISE_THREADS_DB must name an SQLite file this user can write, "
                          "or a new file in a writable folder")

    if os.path.isdir(path):
        raise unusable("it is a folder")
    try:
        connection = sqlite3.connect(path, check_same_thread=False)
    except sqlite3.Error as exc:
        raise unusable(str(exc)) from None
    try:
        saver = SqliteSaver(connection)
        saver.setup()
    except sqlite3.Error as exc:
        connection.close()
        raise unusable(str(exc)) from None
    try:
        yield saver
    finally:
        connection.close()
