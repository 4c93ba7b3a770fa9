"""The ingest pipeline: chunk, diff against the store, embed in bounded batches, insert.

Embedding requests run in worker threads, paced to the server (`pacing.py`), while the
calling thread chunks the next sources and one writer thread stores finished batches, so
a run costs little more than the embedding server's own time. Only chunks whose ids are
not stored yet are embedded. A changed source gets its new chunks inserted before its
stale ones are deleted: a crash never leaves a source without chunks, and a re-run
completes it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..adapters.models import GuardedEmbeddings
from ..adapters.models.boundary import timed_out
from ..core.chunking import CONTEXT_TOKENS, Chunk, Chunker
from ..core.documents import Source, storable_problem
from ..core.errors import InvalidVectorError, ModelUnavailableError
from ..core.records import SourceRecord, record_of
from ..core.settings import Settings
from .pacing import Pacer, RetryBudget

if TYPE_CHECKING:
    from ..adapters.milvus import MilvusStore

# Sources are told apart by their records, looked up by primary key in one request per
# group: tens of ms on a Milvus server, growing far slower than the ids asked for. The next
# groups' lookups run on helper threads while this one is compared and split; at most
# (_LOOKUPS_AHEAD + 1) x _LOOKUP_CHARS of text (or one large source) waits meanwhile.
_LOOKUP_SOURCES = 4096
_LOOKUP_CHARS = 1024 * 1024
_LOOKUPS_AHEAD = 2
# What is to be embedded is split this much at a time: the server never waits long for it.
_SPLIT_CHARS = 256 * 1024
# Milvus Lite buffers rows as Python objects (~25 KB per 768-d row) and under-estimates
# them 4x. Sealing every so many rows, on the writer thread while the server computes,
# keeps an ingest of any size within a few hundred MB and leaves the final flush (which
# makes searches use the HNSW index at once) little to do. Lite scores BM25 with each
# segment's own statistics, so the seals fall at exact row counts: the same documents make
# the same segments and rank the same in every run. (`MilvusStore.flush` does nothing on
# a Milvus server, which seals its own segments and keeps collection-wide statistics.)
_FLUSH_EVERY_ROWS = 1024
# Landed rows are stored in one request per this many, or per second when the embedding
# server is slower than that: a request costs ~10 ms on a Milvus server, more as it grows.
_INSERT_ROWS = 512
_INSERT_SECONDS = 1.0


class IngestProgress(Protocol):
    """Receives progress as it happens (the CLI draws a bar from it)."""

    def start(self, total_sources: int) -> None: ...

    def advance(self, *, sources: int = 0, chunks: int = 0) -> None: ...


@dataclass
class IngestReport:
    """What one ingest run did."""

    sources: int = 0
    added: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[str] = field(default_factory=list)
    """Sources not ingested at all, each with its reason (unreadable, not storable)."""
    failed: list[str] = field(default_factory=list)
    """Sources some of whose chunks could not be embedded, with the reason; their earlier
    chunks are kept, and the next run tries the missing ones again."""
    warnings: list[str] = field(default_factory=list)
    """What the user should know of the collection (a search leg that reads it badly)."""
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """True when every source asked for was stored whole."""
        return not (self.skipped or self.failed)

    def summary(self) -> str:
        text = (
            f"{self.sources} files: {self.added} chunks added, {self.unchanged} unchanged, "
            f"{self.removed} removed in {self.seconds:.1f} s"
        )
        return text + "".join(f"; {len(items)} {what}" for items, what in (
            (self.skipped, "skipped"), (self.failed, "failed")) if items)


class _NoProgress:
    def start(self, total_sources: int) -> None:
        pass

    def advance(self, *, sources: int = 0, chunks: int = 0) -> None:
        pass


class _Pipeline:
    """Bounded, ordered embedding and insertion, with deletions held back until safe."""

    def __init__(self, store: Future[MilvusStore], embedder: GuardedEmbeddings,
                 settings: Settings, progress: IngestProgress) -> None:
        self.opening, self.embedder, self.progress = store, embedder, progress
        self.max_chars = settings.embed_batch_chars
        self.pacer = Pacer(settings)
        self.budget = RetryBudget(settings.retry_attempts)
        # One worker more than requests in flight: it creates the collection.
        self.executor = ThreadPoolExecutor(self.pacer.max_in_flight + 1, "rankwise-embed")
        self.in_flight: deque[tuple[Future, list[Chunk]]] = deque()
        # Milvus Lite takes about a second to create a collection (and half one to open a
        # new file): the store is made ready on a helper thread once the first vectors give
        # the dimension, while the server computes on; rows that land meanwhile wait for it.
        self.creating: Future | None = None
        # Writes to the store run in order on a thread of their own, so that the server
        # always has requests to compute while rows are analysed, inserted and sealed.
        self.writer = ThreadPoolExecutor(1, "rankwise-store")
        self.writes: deque[tuple[Future, int]] = deque()
        self.waiting_rows: list[dict] = []
        self.last_insert = time.monotonic()
        self.batch: list[Chunk] = []
        self.batch_chars = 0
        self.submitted = 0
        self.landed = 0
        self.queued = 0  # batches whose rows are queued for the store
        self.unflushed = 0  # rows inserted since the last flush (the writer's own)
        # (batches that must have been inserted first, source, its stale ids to delete,
        # its record once they are): a source is settled when its chunks are all stored
        self.pending: list[tuple[int, str, list[str], SourceRecord]] = []
        # Sources with a chunk whose vector could not be stored: chunk count and reason.
        self.failed: dict[str, tuple[int, str]] = {}
        self.kept_stale = 0  # stale chunks not deleted because their source failed

    def add(self, source: str, chunks: list[Chunk], stale: list[str],
            record: SourceRecord) -> None:
        """Queue `source`'s chunks for embedding, consuming the list: a chunk leaves it as
        it is batched, so a large file's chunks are freed as they are stored."""
        chunks.reverse()
        while chunks:
            chunk = chunks.pop()
            if self.batch and (
                len(self.batch) >= self.pacer.batch_size
                or self.batch_chars + len(chunk.text) > self.max_chars
            ):
                self._submit()
            self.batch.append(chunk)
            self.batch_chars += len(chunk.text)
        self.pending.append((self.submitted + bool(self.batch), source, stale, record))
        self._settle()

    def _submit(self) -> None:
        batch = self.batch
        future = self.executor.submit(self._embed, [c.embedded for c in batch])
        self.in_flight.append((future, batch))
        self.submitted += 1
        self.batch, self.batch_chars = [], 0
        while len(self.in_flight) >= self.pacer.in_flight:
            self._land_oldest()

    def _embed(self, texts: list[str]) -> list[list[float] | InvalidVectorError]:
        """One batch's vectors; a failure a retry can cure is retried from the budget. A
        batch whose vectors stay unusable is split until the texts at fault are found:
        those get the error in place of a vector, the others their vectors."""
        invalid: InvalidVectorError | None = None
        while True:
            started = time.monotonic()
            try:
                vectors = self.embedder.embed_once(texts)
            except InvalidVectorError as exc:
                if invalid is not None:  # asked again, still unusable: find the culprits
                    break
                invalid = exc
                continue
            except ModelUnavailableError as exc:
                if timed_out(exc):  # not a failure: the server may still be computing it
                    time.sleep(self.pacer.slowed(len(texts)))
                self.budget.spend(exc)
                continue
            self.pacer.succeeded(len(texts), time.monotonic() - started)
            self.budget.succeeded()
            return list(vectors)
        if len(texts) == 1:  # bad vectors in a row spend the budget: a broken model ends it
            self.budget.spend(invalid)
            return [invalid]
        middle = len(texts) // 2
        return [*self._embed(texts[:middle]), *self._embed(texts[middle:])]

    def _land_oldest(self) -> None:
        future, batch = self.in_flight.popleft()
        landed = list(zip(batch, future.result()))
        for chunk, vector in landed:
            if isinstance(vector, InvalidVectorError):
                count, _ = self.failed.get(chunk.source, (0, ""))
                self.failed[chunk.source] = (count + 1, f"chunk {chunk.index}: {vector}")
        good = [(c, v) for c, v in landed if not isinstance(v, InvalidVectorError)]
        self.waiting_rows += [
            {"id": c.id, "vector": v, "text": c.text, "source": c.source,
             "chunk_index": c.index, "metadata": c.metadata, "context": c.context}
            for c, v in good
        ]
        self.landed += 1
        if self.creating is None and good:
            self.creating = self.executor.submit(self._ready_for, len(good[0][1]),
                                                 [c.text for c, _ in good])
        if self.creating is not None and self.creating.done() and (
                len(self.waiting_rows) >= _INSERT_ROWS
                or time.monotonic() - self.last_insert >= _INSERT_SECONDS):
            self._insert_waiting()

    @property
    def store(self) -> MilvusStore:
        return self.opening.result()

    def _ready_for(self, dimension: int, texts: list[str]) -> None:
        """Open the store and create (or check) the collection for `dimension`; a new
        collection's lexical language is detected from `texts` (the first batch)."""
        self.store.ensure(dimension, texts)

    def _insert_waiting(self) -> None:
        assert self.creating is not None, "rows wait only once the store is being made"
        self.creating.result()  # raises what opening or creating the store raised
        rows, self.waiting_rows = self.waiting_rows, []
        self.last_insert = time.monotonic()
        self.queued = self.landed
        self._write(rows, *self._ready())

    def _settle(self) -> None:
        """Settle the sources whose chunks are all queued for the store."""
        stale, settled = self._ready()
        if stale or settled:
            self._write([], stale, settled)

    def _ready(self) -> tuple[list[str], dict[str, SourceRecord]]:
        """Take the sources whose chunks are all queued for the store: their stale chunks to
        delete, then their records. A source with a chunk that could not be stored keeps
        its stale chunks and its old record, so nothing it had is lost and the next run
        looks again."""
        ready = [entry for entry in self.pending if entry[0] <= self.queued]
        self.pending = [entry for entry in self.pending if entry[0] > self.queued]
        stale: list[str] = []
        settled: dict[str, SourceRecord] = {}
        for _, source, ids, record in ready:
            if source in self.failed:
                self.kept_stale += len(ids)
                continue
            stale += ids
            settled[source] = record
        return stale, settled

    def _write(self, rows: list[dict], stale: list[str], settled: dict[str, SourceRecord],
               *, seal: bool = False) -> None:
        """Queue one write after the others; at most two wait, and a finished one's error
        is raised here."""
        while self.writes and (self.writes[0][0].done() or len(self.writes) >= 2):
            self._collect()
        after = self.writes[-1][0] if self.writes else None
        job = self.writer.submit(self._store_rows, after, rows, stale, settled, seal)
        self.writes.append((job, len(rows)))

    def _collect(self) -> None:
        job, rows = self.writes.popleft()
        job.result()
        if rows:
            self.progress.advance(chunks=rows)

    def _store_rows(self, after: Future | None, rows: list[dict], stale: list[str],
                    settled: dict[str, SourceRecord], seal: bool) -> None:
        """On the writer thread: insert, then delete what the rows replace, then record
        the sources. Nothing is written once an earlier write failed, so no source is
        recorded whose chunks did not all arrive."""
        if after is not None:
            after.result()
        while rows:  # sealed every _FLUSH_EVERY_ROWS rows exactly: the same segments each run
            room = _FLUSH_EVERY_ROWS - self.unflushed
            part, rows = rows[:room], rows[room:]
            self.store.insert(part)
            self.unflushed += len(part)
            if self.unflushed == _FLUSH_EVERY_ROWS:
                self._seal()
        if stale:
            self.store.delete_ids(stale)
        if settled:
            self.store.record_sources(settled)
        if seal and self.unflushed:
            self._seal()

    def _seal(self) -> None:
        # Buffered rows are searched by brute force; sealed ones get the HNSW index.
        self.store.flush()
        self.unflushed = 0

    def store_all(self) -> None:
        """Land every batch and store its rows; the last rows are sealed meanwhile
        (`drain` waits for that)."""
        if self.batch:
            self._submit()
        while self.in_flight:
            self._land_oldest()
        if self.waiting_rows:
            self._insert_waiting()
        self.queued = self.landed  # every vector of the last batches may have been refused
        self._settle()
        self.drain()
        self._write([], [], {}, seal=True)

    def drain(self) -> None:
        """Wait for every queued write, raising what one raised."""
        while self.writes:
            self._collect()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.writer.shutdown(wait=True, cancel_futures=True)


@dataclass
class _Lookup:
    """A group of sources, and their records as they are fetched."""

    sources: list[Source]
    records: Future[dict[str, SourceRecord]]
    chars: int


def _chars(source: Source) -> int:
    return sum(len(document.page_content) for document in source.documents)


def ingest_sources(
    items: Iterable[Source | str],
    store: Future[MilvusStore],
    embedder: GuardedEmbeddings,
    settings: Settings,
    progress: IngestProgress | None = None,
    *,
    new_store: bool = False,
    then: Callable[[IngestReport], object] | None = None,
) -> IngestReport:
    """Bring the store in line with `items`: a `Source` to ingest, or a skip message.

    `store` may still be opening; `new_store` says it holds nothing yet (a Milvus Lite file
    not created), so embedding starts without waiting for it and nothing is diffed
    (sources are distinct within a run). `then` gets the report once every chunk is
    stored, while the last ones are sealed (the collection's calibration runs there)."""
    started = time.perf_counter()
    report = IngestReport()
    told: IngestProgress = progress or _NoProgress()
    chunker = Chunker(embedder.chunk_tokens(settings.chunk_size, CONTEXT_TOKENS + 2),
                      settings.chunk_overlap, embedder.count_tokens, settings.tenant or "",
                      settings.embed_tokenizer or "estimate")
    pipeline = _Pipeline(store, embedder, settings, told)
    lookups = ThreadPoolExecutor(_LOOKUPS_AHEAD, "rankwise-lookup")
    looking: deque[_Lookup] = deque()

    def look_up(group: list[Source], chars: int) -> None:
        """Fetch the group's records on a helper thread (a new store holds none)."""
        names = [source.name for source in group]
        if new_store:
            found: Future[dict[str, SourceRecord]] = Future()
            found.set_result({})
        else:
            found = lookups.submit(lambda: store.result().source_records(names))
        looking.append(_Lookup(group, found, chars))

    def compare(lookup: _Lookup) -> None:
        """An unchanged source matches its record's fingerprint and is not even split; the
        others are split and diffed, a few hundred KB at a time."""
        records = lookup.records.result()
        waiting: list[tuple[Source, str]] = []
        chars = 0
        for source in lookup.sources:
            fingerprint = chunker.fingerprint(source)
            record = records.get(source.name)
            if record is not None and record.content == fingerprint:
                report.unchanged += record.count
                told.advance(sources=1, chunks=record.count)
                continue
            waiting.append((source, fingerprint))
            chars += _chars(source)
            if chars >= _SPLIT_CHARS:
                split_and_diff(waiting, records)
                waiting, chars = [], 0
        if waiting:
            split_and_diff(waiting, records)

    def split_and_diff(sources: list[tuple[Source, str]],
                       records: dict[str, SourceRecord]) -> None:
        """Split sources and diff their chunks against what is stored: a new source has no
        record (its chunk ids are checked, in case a stopped run stored some); only a
        changed one is read by source."""
        def split_one(source: Source, fingerprint: str) -> tuple[str, list[Chunk], SourceRecord]:
            chunks = chunker.split(source)
            return source.name, chunks, record_of((c.id for c in chunks), fingerprint)

        # each source's chunks are let go as the pipeline takes them
        split = deque(split_one(*entry) for entry in sources)
        changed = [name for name, _, now in split
                   if name in records and not records[name].same_chunks(now)]
        stored = store.result().ids_by_source(changed) if changed else {}
        fresh = [c.id for name, chunks, _ in split if name not in records for c in chunks]
        existing = store.result().existing(fresh) if fresh and not new_store else set()
        fingerprinted: dict[str, SourceRecord] = {}
        while split:
            name, chunks, now = split.popleft()
            if name in records and records[name].same_chunks(now):
                fingerprinted[name] = now  # its chunks are stored: the record learns more
                report.unchanged += len(chunks)
                told.advance(sources=1, chunks=len(chunks))
                continue
            current = {c.id for c in chunks}
            had = stored.get(name, current & existing)
            new = [c for c in chunks if c.id not in had]
            stale = sorted(had - current)
            report.added += len(new)
            report.unchanged += len(chunks) - len(new)
            report.removed += len(stale)
            told.advance(sources=1, chunks=len(chunks) - len(new))
            del chunks
            pipeline.add(name, new, stale, now)
        if fingerprinted:
            store.result().record_sources(fingerprinted)

    # Nothing to look up in a new store: its groups are split as soon as they are read.
    group_limit, ahead = (_SPLIT_CHARS, 0) if new_store else (_LOOKUP_CHARS, _LOOKUPS_AHEAD)
    try:
        group: list[Source] = []
        group_chars = 0
        for item in items:
            if not isinstance(item, str) and (problem := storable_problem(item)):
                item = f"{item.name}: {problem}"
            if isinstance(item, str):
                report.skipped.append(item)
                told.advance(sources=1)
                continue
            report.sources += 1
            group.append(item)
            group_chars += _chars(item)
            if len(group) >= _LOOKUP_SOURCES or group_chars >= group_limit:
                look_up(group, group_chars)
                group, group_chars = [], 0
                while looking and (len(looking) > ahead or sum(
                        lookup.chars for lookup in looking) > (ahead + 1) * group_limit):
                    compare(looking.popleft())  # while the next are looked up
        if group:
            look_up(group, group_chars)
        while looking:
            compare(looking.popleft())
        pipeline.store_all()
        for source, (count, reason) in pipeline.failed.items():
            report.failed.append(f"{source}: {count} chunk(s) could not be embedded "
                                 f"({reason})")
            report.added -= count
        report.removed -= pipeline.kept_stale
        if then is not None:
            then(report)  # while Milvus Lite seals the last rows
        pipeline.drain()
    finally:
        lookups.shutdown(wait=True, cancel_futures=True)
        pipeline.close()
    report.seconds = time.perf_counter() - started
    return report
