"""Rich progress bars on stderr: ingest (files, chunks, chunks per second) and evaluation
(the corpus ingest, then each configuration's queries)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)


class _RichIngestProgress:
    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._files = progress.add_task("ingest", total=None, chunks=0, rate=0.0)
        self._chunks = 0

    def start(self, total_sources: int) -> None:
        self._progress.update(self._files, total=total_sources)

    def advance(self, *, sources: int = 0, chunks: int = 0) -> None:
        self._chunks += chunks
        elapsed = self._progress.tasks[self._files].elapsed or 0.0
        rate = self._chunks / elapsed if elapsed > 0 else 0.0
        self._progress.update(self._files, advance=sources, chunks=self._chunks, rate=rate)


@contextmanager
def ingest_progress(quiet: bool) -> Iterator[_RichIngestProgress | None]:
    """A live bar on stderr, or nothing with `--quiet`."""
    if quiet:
        yield None
        return
    columns = (
        TextColumn("[bold]ingest[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files  {task.fields[chunks]} chunks  {task.fields[rate]:.0f} chunks/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        yield _RichIngestProgress(progress)


class _RichEvaluationProgress(_RichIngestProgress):
    def measuring(self, configuration: str, queries: int) -> None:
        self._queries = self._progress.add_task(configuration, total=queries, chunks=0,
                                                rate=0.0)

    def measured(self) -> None:
        self._progress.update(self._queries, advance=1)


@contextmanager
def evaluation_progress(quiet: bool) -> Iterator[_RichEvaluationProgress | None]:
    """The corpus ingest's bar, then a bar per configuration, on stderr."""
    if quiet:
        yield None
        return
    columns = (TextColumn("[bold]{task.description}[/]"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        yield _RichEvaluationProgress(progress)
