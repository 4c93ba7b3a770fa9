"""The Milvus collection behind rankwise: schema, writes, dense and hybrid search.

The same code serves Milvus Lite (a local file) and a Milvus server URI.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pymilvus import DataType, Function, FunctionType, MilvusClient
from pymilvus.exceptions import MilvusException
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_exponential

from ..core.analysis import ANALYZER_VERSION, AUTO, LexicalAnalyzer, detect_language
from ..core.calibration import Calibration
from ..core.documents import MAX_SOURCE_BYTES, MAX_TEXT_BYTES
from ..core.errors import (
    AnalyzerMismatchError,
    DimensionMismatchError,
    StoreError,
    StoreLockedError,
)
from ..core.filters import checked_expression, literal
from ..core.records import SourceRecord, record_of
from ..core.settings import Settings
from ..core.vocabulary import Hit, ScoreKind
from .milvus_errors import boundary
from .milvus_records import QUERY_BATCH, RECORDED_PROPERTY, SourceRecords, query_all

IDENTITY_PROPERTY = "rankwise.embedding"
LEXICAL_PROPERTY = "rankwise.lexical"
CALIBRATION_PROPERTY = "rankwise.calibration"
LEGACY_MODEL_PROPERTY = "rankwise.embed_model"  # collections made before identities
OUTPUT_FIELDS = ["text", "source", "chunk_index", "metadata"]  # the primary key comes anyway
_CREATION_WAIT = 30.0  # seconds another writer gets to finish making a collection


class _NoSessionTsWarning(logging.Filter):
    """Milvus Lite gives query iterators no session timestamp, and pymilvus warns each time."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_NoSessionTsWarning())
log = logging.getLogger("rankwise.store")


def _lock_is_held(path: str) -> bool:
    """True when another process holds the Milvus Lite lock on `path`."""
    try:
        fd = os.open(os.path.join(path, "LOCK"), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


@contextmanager
def _quiet(logger_name: str = "milvus_lite") -> Iterator[None]:
    """Silence a library's own error log (milvus_lite's traceback when it cannot start,
    pymilvus's for a failed call) where rankwise says what happened itself."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _eventually(condition: Callable[[], bool]) -> bool:
    """Whether `condition` holds now or within _CREATION_WAIT seconds, asked with backoff."""
    try:
        with _quiet("pymilvus.decorators"):
            return Retrying(retry=retry_if_result(lambda holds: not holds),
                            stop=stop_after_delay(_CREATION_WAIT),
                            wait=wait_exponential(multiplier=0.05, max=1.0))(condition)
    except RetryError:
        return False


@dataclass(frozen=True)
class Capabilities:
    """What the Milvus behind a URI can do, as rankwise uses it."""

    version: str
    lite: bool
    bm25: bool  # BM25 functions and sparse vectors: Milvus Lite, or a server >= 2.5

    def describe(self) -> str:
        kind = "Milvus Lite" if self.lite else "Milvus server"
        lexical = "BM25 full-text search" if self.bm25 else (
            "no BM25 (needs Milvus >= 2.5): dense search only")
        index = "HNSW" if self.lite else "AUTOINDEX"
        return f"{kind} {self.version}; {index} vectors, {lexical}"


def probe(client: MilvusClient, local: bool) -> Capabilities:
    """Read the server's version and what follows from it."""
    try:
        version = str(client.get_server_version())
    except MilvusException:
        version = "unknown"
    lite = local or version.startswith("milvus_lite")
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    return Capabilities(version, lite, lite or numbers >= (2, 5))


def open_client(settings: Settings) -> MilvusClient:
    """Connect to the configured Milvus; a locked or unwritable Lite file gets an error
    naming the fix."""
    uri = settings.milvus_uri
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
    database = {"db_name": settings.milvus_db} if settings.milvus_db else {}
    # pymilvus pings every 10 s even between calls; Milvus Lite's server allows that for a
    # minute or two, then answers GOAWAY "too_many_pings", which gRPC writes to stderr: an
    # idle MCP server or a long rerank printed two error lines. Between calls it need not ping.
    quiet_when_idle = ({"grpc_options": {"grpc.keepalive_permit_without_calls": False}}
                       if settings.milvus_is_local else {})
    try:
        with _quiet():
            return MilvusClient(uri=uri, token=token, **database, **quiet_when_idle)
    except (MilvusException, OSError) as exc:
        if not settings.milvus_is_local:
            said = getattr(exc, "message", None) or str(exc)
            if settings.milvus_db and not _database_exists(uri, token, settings.milvus_db):
                raise StoreError(
                    f"database {settings.milvus_db!r} does not exist on the Milvus server at "
                    f"{uri}: check RANKWISE_MILVUS_DB, or create the database") from exc
            raise StoreError(
                f"cannot reach the Milvus server at {uri} ({said}): start it, or check "
                "RANKWISE_MILVUS_URI and RANKWISE_MILVUS_TOKEN") from exc
        path = os.path.abspath(uri)
        if _lock_is_held(path):
            raise StoreLockedError(
                f"the Milvus Lite file {path} is in use by another process; Milvus Lite "
                "allows one process at a time. Stop the other process, or run a Milvus "
                "server and set RANKWISE_MILVUS_URI=http://host:19530 so that several "
                "processes can share the collection") from exc
        reason = f" ({exc})" if isinstance(exc, OSError) else ""
        raise StoreError(
            f"cannot open the Milvus Lite file {path}{reason}: it must be a "
            "directory this user can write, with a writable LOCK file inside; fix its "
            "permissions, or set RANKWISE_MILVUS_URI to another path") from exc


def _database_exists(uri: str, token: str, database: str) -> bool:
    """Whether the server at `uri` has `database` (True when it cannot be asked: then the
    server itself is the problem). Servers word a missing database differently, and
    pymilvus sometimes reports it as a failure to connect, so it is asked directly."""
    try:
        with _quiet(), _quiet("pymilvus.decorators"):
            client = MilvusClient(uri=uri, token=token)
            try:
                return database in client.list_databases()
            finally:
                client.close()
    except MilvusException:
        return True


def _dense_params(k: int) -> dict[str, Any]:
    """Search parameters of the vector field: cosine, HNSW's `ef` at least `k`. With 60,000
    real vectors (bench/recall.py, efConstruction 100), `ef` 64 found 0.979 of the exact top
    10 and 128 found 0.992, in the same time: Milvus Lite's search time goes to checking rows,
    not to the graph."""
    return {"metric_type": "COSINE", "params": {"ef": max(128, k)}}


def _hit(row: dict[str, Any], scored_by: ScoreKind = "cosine") -> Hit:
    entity = row.get("entity", row)
    score = float(row.get("distance", 0.0))
    if scored_by == "bm25":  # never negative; Milvus Lite reports it negated
        score = abs(score)
    return Hit(id=row["id"], text=entity["text"], score=score,
               source=entity["source"], chunk_index=int(entity.get("chunk_index", 0)),
               metadata=entity.get("metadata") or {}, scored_by=scored_by)


_LITE_USERS: Counter[str] = Counter()  # open stores per Milvus Lite file, in this process
_LITE_LOCK = threading.Lock()


class MilvusStore:
    """One rankwise collection: chunks with text, source, metadata, dense and BM25 vectors.

    `identity` says what makes its vectors (provider, model, embedding prompts); it is
    stored with the collection and a collection made with another one is refused. The BM25
    vectors come from a `lexical` field, the text as rankwise's analyser turned it into
    terms; the analyser is stored with the collection too, and queries are analysed by it.
    """

    def __init__(self, settings: Settings, identity: dict[str, str],
                 client: MilvusClient | None = None) -> None:
        self.settings = settings
        self.identity = identity
        self.name = settings.collection
        self.client = client or open_client(settings)
        if settings.milvus_is_local:  # Milvus Lite runs one server per file per process
            with _LITE_LOCK:
                _LITE_USERS[os.path.abspath(settings.milvus_uri)] += 1
        self.capabilities = probe(self.client, settings.milvus_is_local)
        self.tenant = settings.tenant
        self.dimension: int | None = None
        self.lexical = self.capabilities.bm25  # whether the collection has a BM25 field
        # The analyser of the BM25 field: None for collections made before rankwise
        # analysed text itself (Milvus's standard analyzer reads the raw text).
        self.analyzer: LexicalAnalyzer | None = None
        self.calibration: Calibration | None = None  # how well each leg reads it
        self.records = SourceRecords(self.client, self.name, self.tenant)
        self.recorded = False  # every source of the collection has a record
        self._recording = threading.Lock()  # lookups run on several threads
        # Milvus Lite's count(*) can read a wrong number while it seals rows (1 of 201 rows,
        # once in about 40 seals): an ingest's calibration counts while the last seal runs.
        self._sealing = threading.Lock()
        if self._exists():
            self._adopt()

    @boundary("opening the collection")
    def _exists(self) -> bool:
        return bool(self.client.has_collection(self.name))

    def describe_location(self) -> str:
        """Where the collection lives: the Lite file's path, or the server's URI."""
        uri = self.settings.milvus_uri
        return os.path.abspath(uri) if self.settings.milvus_is_local else uri

    def reconnect(self) -> None:
        """A new connection to a server (after it restarted); Milvus Lite is left as is."""
        if not self.settings.milvus_is_local:
            fresh = open_client(self.settings)
            with _quiet("pymilvus"):
                self.client.close()
            self.client = self.records.client = fresh

    def close(self) -> None:
        """Close the connection; a Milvus Lite file is unlocked for other processes once
        the last store of this process using it is closed."""
        self.client.close()
        if self.settings.milvus_is_local:
            path = os.path.abspath(self.settings.milvus_uri)
            with _LITE_LOCK:
                _LITE_USERS[path] -= 1
                if _LITE_USERS[path] > 0:  # another store (another tenant) still uses it
                    return
                del _LITE_USERS[path]
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(path)

    # ---- schema -------------------------------------------------------------------
    def _check_existing(self) -> None:
        info = self.client.describe_collection(self.name)
        fields = {f["name"]: f for f in info["fields"]}
        if "vector" not in fields or "text" not in fields:
            raise StoreError(
                f"collection {self.name!r} was not made by rankwise (no 'vector'/'text' "
                "fields): choose another collection name with RANKWISE_COLLECTION"
            )
        self.dimension = int(fields["vector"]["params"]["dim"])
        self.lexical = "sparse" in fields
        properties = info.get("properties") or {}
        if "lexical" in fields:
            self.analyzer = self._recorded_analyzer(properties)
        if CALIBRATION_PROPERTY in properties:
            self.calibration = Calibration(**json.loads(properties[CALIBRATION_PROPERTY]))
        self.recorded = properties.get(RECORDED_PROPERTY) == "1"
        if ("tenant" in fields) != (self.tenant is not None):
            raise StoreError(
                f"collection {self.name!r} is shared by tenants: set RANKWISE_TENANT to yours"
                if "tenant" in fields else
                f"collection {self.name!r} has no tenants: unset RANKWISE_TENANT, or use "
                "another collection (RANKWISE_COLLECTION) for tenants")
        made_with = _recorded_identity(properties)
        if made_with is not None and made_with != self.identity:
            raise DimensionMismatchError(
                f"collection {self.name!r} holds embeddings made by {_describe(made_with)}, "
                f"but the configured embeddings are {_describe(self.identity)}; vectors of "
                "two models or prompts must not be mixed. Configure the embeddings that made "
                "the collection (RANKWISE_EMBED_MODEL, RANKWISE_QUERY_PREFIX, "
                "RANKWISE_DOCUMENT_PREFIX), or use another collection (RANKWISE_COLLECTION) "
                "and ingest again"
            )

    def _recorded_analyzer(self, properties: dict[str, str]) -> LexicalAnalyzer:
        recorded = json.loads(properties.get(LEXICAL_PROPERTY, "{}"))
        analyzer = LexicalAnalyzer(str(recorded.get("language")))
        wanted = self.settings.lexical_language
        if recorded != analyzer.record() or wanted not in (AUTO, analyzer.language):
            configured = (f"RANKWISE_LEXICAL_LANGUAGE is {wanted!r}" if wanted != AUTO else
                          f"this rankwise analyses words with version {ANALYZER_VERSION}")
            raise AnalyzerMismatchError(
                f"collection {self.name!r} indexes words analysed as "
                f"{_describe_analyzer(recorded)}, but {configured}; queries must be analysed "
                "like the chunks. Set RANKWISE_LEXICAL_LANGUAGE to the collection's language "
                "(or auto), or ingest again into another collection (RANKWISE_COLLECTION)")
        return analyzer

    def ensure(self, dimension: int, texts: Sequence[str] = ()) -> None:
        """Create the collection for `dimension`-d vectors, or check that it fits them; a
        new collection's lexical language (setting `auto`) is detected from `texts`."""
        if self.dimension is None:  # sets it: ours, or a racing writer's collection's
            self._create(dimension, texts)
        self.check_dimension(dimension)

    def check_dimension(self, dimension: int) -> None:
        if self.dimension is not None and dimension != self.dimension:
            raise DimensionMismatchError(
                f"collection {self.name!r} stores {self.dimension}-d vectors but model "
                f"{self.identity['model']!r} produces {dimension}-d vectors; use the model "
                "that built the collection, or another collection (RANKWISE_COLLECTION)"
            )

    def _create(self, dimension: int, texts: Sequence[str]) -> None:
        """Create the collection (with a BM25 field where the server has BM25 functions);
        safe when other processes create it at once; never leaves a half-made one."""
        lexical = self.capabilities.bm25
        language = self.settings.lexical_language
        analyzer = LexicalAnalyzer(detect_language(texts) if language == AUTO else language)
        properties = {IDENTITY_PROPERTY: json.dumps(self.identity, sort_keys=True),
                      RECORDED_PROPERTY: "1"}
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, max_length=64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
        if lexical:  # terms already analysed and space-separated: the standard tokenizer
            schema.add_field("lexical", DataType.VARCHAR, max_length=MAX_TEXT_BYTES,
                             enable_analyzer=True, analyzer_params={"tokenizer": "standard"})
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            properties[LEXICAL_PROPERTY] = json.dumps(analyzer.record(), sort_keys=True)
        schema.add_field("source", DataType.VARCHAR, max_length=MAX_SOURCE_BYTES)
        schema.add_field("chunk_index", DataType.INT64)
        schema.add_field("metadata", DataType.JSON)
        if self.tenant is not None:  # many tenants in one collection, one partition each
            schema.add_field("tenant", DataType.VARCHAR, max_length=256, is_partition_key=True)
        index = self.client.prepare_index_params()
        if self.capabilities.lite:  # efConstruction 100 builds in half 200's time, same recall
            index.add_index(
                "vector", index_type="HNSW", metric_type="COSINE",
                params={"M": 16, "efConstruction": 100},
            )
        else:
            index.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
        if lexical:
            schema.add_function(Function(name="lexical_bm25", function_type=FunctionType.BM25,
                                         input_field_names=["lexical"],
                                         output_field_names=["sparse"]))
            index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        try:
            with _quiet("pymilvus.decorators"):  # a writer racing us is expected
                self.client.create_collection(self.name, schema=schema, properties=properties)
        except MilvusException as exc:  # nothing was made; mostly another writer was first
            if not _eventually(lambda: self.client.has_collection(self.name)):
                raise self._not_created(exc) from exc
            self._adopt()
            return
        try:
            # sync=False: pymilvus otherwise polls every 0.5 s for an index on no rows yet;
            # a server under load may not list the index at once, and refuses to load
            # a collection without one: wait for it, as a writer adopting it would
            self.client.create_index(self.name, index, sync=False)
            _eventually(lambda: bool(self.client.list_indexes(self.name, "vector")))
            self.client.load_collection(self.name)
            self.records.create()
            _eventually(lambda: bool(self.client.list_indexes(self.records.name)))
            self.records.load()
        except MilvusException as exc:
            with _quiet():
                self.client.drop_collection(self.name)  # nothing half-made is left
            raise self._not_created(exc) from exc
        self.recorded = True
        self.dimension = dimension
        self.lexical = lexical
        self.analyzer = analyzer if lexical else None

    def _not_created(self, exc: MilvusException) -> StoreError:
        return StoreError(f"cannot create collection {self.name!r} on "
                          f"{self.capabilities.describe()}: {exc}; nothing was left behind")

    @boundary("opening the collection")
    def _adopt(self) -> None:
        """Use the existing collection once its maker has finished it (another process
        may be between creating and indexing it)."""
        self._check_existing()
        if not _eventually(lambda: bool(self.client.list_indexes(self.name, "vector"))):
            raise StoreError(
                f"collection {self.name!r} has no vector index: whatever made it stopped "
                "half-way; drop it (MilvusClient.drop_collection) or use another collection "
                "(RANKWISE_COLLECTION), and ingest again")
        self.client.load_collection(self.name)
        if self.records.exists():
            self.records.load()
        else:  # made before sources were recorded, or a writer stopped half-way
            self.recorded = False

    # ---- writes -------------------------------------------------------------------
    @boundary("storing chunks")
    def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store `rows`; a row's `context` (its headings) is indexed for BM25 with its
        text, not stored apart. On a server, other processes may store the same chunks at
        once: an upsert keeps one row per chunk id however many write it."""
        if rows:
            self.ensure(len(rows[0]["vector"]), [row["text"] for row in rows])
            extra: dict[str, Any] = {} if self.tenant is None else {"tenant": self.tenant}
            rows = [{**{k: v for k, v in row.items() if k != "context"}, **extra,
                     **({"lexical": _fitted(self.analyzer.analyze(
                         f"{row.get('context', '')}\n{row['text']}"))}
                        if self.analyzer is not None else {})}
                    for row in rows]
            write = self.client.insert if self.settings.milvus_is_local else self.client.upsert
            write(self.name, list(rows))

    def flush(self) -> None:
        """Seal buffered rows into segments: Milvus Lite holds them in memory until then.
        A real Milvus server seals its segments itself, and its maintainers advise against
        flushing by hand (each flush waits seconds and leaves a small segment to merge):
        there this does nothing. Through milvus-lite's server the rows are stored already,
        so a failed flush (it refuses one of several writers' at once) is logged, never
        fatal."""
        if not self.capabilities.lite:
            return
        try:
            with self._sealing:
                self._flush()
        except StoreError as exc:
            if self.settings.milvus_is_local:
                raise
            log.warning("%s; the rows are stored, the server seals them itself", exc)

    @boundary("sealing segments")
    def _flush(self) -> None:
        self.client.flush(self.name)

    @boundary("deleting chunks")
    def delete_ids(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        for start in range(0, len(ids), QUERY_BATCH):
            batch = ids[start : start + QUERY_BATCH]
            self.client.delete(self.name,
                               filter=self._scoped(f"id in [{', '.join(map(literal, batch))}]"))

    @boundary("re-recording sources")
    def rerecord(self, sources: Sequence[str]) -> None:
        """Record what `sources` have stored now (after some of their chunks were deleted):
        a later ingest then sees them changed and stores what is missing."""
        if not self.recorded or not sources:
            return
        remaining = self.ids_by_source(sources)
        self.records.put({source: record_of(ids) for source, ids in remaining.items() if ids})
        self.records.forget([source for source, ids in remaining.items() if not ids])

    @boundary("resetting the collection")
    def reset(self) -> None:
        """Delete every chunk: the whole collection, or only this tenant's part of a
        shared one. Close the store afterwards; the next use starts afresh."""
        if self.tenant is None:
            for name in (self.name, self.records.name):
                if self.client.has_collection(name):
                    self.client.drop_collection(name)
        elif self.dimension is not None:
            self.client.delete(self.name, filter=self._scoped(""))
            if self.records.exists():
                self.client.delete(self.records.name,
                                   filter=f"tenant == {literal(self.tenant)}")

    def _scoped(self, expr: str) -> str:
        """`expr` limited to this process's tenant, in a collection shared by tenants; the
        expression is checked to balance, so it cannot close its parentheses and escape."""
        if self.tenant is None:
            return expr
        own = f"tenant == {literal(self.tenant)}"
        return f"{own} and ({checked_expression(expr)})" if expr else own

    # ---- reads --------------------------------------------------------------------
    def _query(self, expr: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        """All rows matching `expr`: one plain query, or an iterator past Milvus's window."""
        if self.dimension is None:
            return
        yield from query_all(self.client, self.name, self._scoped(expr), fields)

    @boundary("reading source records")
    def source_records(self, sources: Sequence[str]) -> dict[str, SourceRecord]:
        """The records of those `sources` that have one. A collection made before sources
        were recorded gets them all first, from one pass over it."""
        if self.dimension is None or not sources:
            return {}
        if not self.recorded:
            self._record_all()
        return self.records.get(sources)

    def _record_all(self) -> None:
        """Record every stored source, once, for a collection made before records were."""
        with self._recording:
            if self.recorded:  # another lookup did it meanwhile
                return
            if not self.records.exists():
                self.records.create()
                _eventually(lambda: bool(self.client.list_indexes(self.records.name)))
            self.records.load()
            self.records.rebuild(self._query('id != ""', ["id", "source"]))
            self.client.alter_collection_properties(
                self.name, properties={RECORDED_PROPERTY: "1"})
            self.recorded = True

    @boundary("recording sources")
    def record_sources(self, records: dict[str, SourceRecord]) -> None:
        """Keep what each source now has stored (after its chunks are all written)."""
        if self.recorded:
            self.records.put(records)

    def _by_ids(self, ids: Sequence[str], fields: list[str]) -> list[dict[str, Any]]:
        """The rows (of this tenant) with these ids, in batches of lookups by primary key.
        The tenant is checked here, not in a filter: Milvus Lite reads every row for a
        filter that is more than a list of ids."""
        if self.dimension is None:
            return []
        fields = [*fields, "tenant"] if self.tenant is not None else fields
        rows = [row for start in range(0, len(ids), QUERY_BATCH)
                for row in self.client.get(self.name, ids=list(ids[start:start + QUERY_BATCH]),
                                           output_fields=fields)]
        return rows if self.tenant is None else [
            row for row in rows if row["tenant"] == self.tenant]

    @boundary("reading stored chunk ids")
    def existing(self, ids: Sequence[str]) -> set[str]:
        """Those of `ids` stored (of this tenant)."""
        return {row["id"] for row in self._by_ids(ids, ["id"])}

    @boundary("reading stored chunk ids")
    def ids_by_source(self, sources: Sequence[str]) -> dict[str, set[str]]:
        """The stored chunk ids of each source."""
        found: dict[str, set[str]] = {source: set() for source in sources}
        if sources:
            expr = f"source in [{', '.join(map(literal, sources))}]"
            for row in self._query(expr, ["id", "source"]):
                found[row["source"]].add(row["id"])
        return found

    @boundary("reading chunks")
    def get(self, ids: Sequence[str]) -> list[Hit]:
        """The chunks with these ids, in the order asked (unknown ids are left out)."""
        by_id = {row["id"]: _hit(row) for row in self._by_ids(ids, OUTPUT_FIELDS)}
        return [by_id[i] for i in ids if i in by_id]

    @boundary("listing sources")
    def sources(self) -> set[str]:
        """Every source that has chunks in the collection."""
        if self.recorded:
            return self.records.sources()
        return {row["source"] for row in self._query('id != ""', ["source"])}

    @boundary("forgetting sources")
    def forget_sources(self, sources: Sequence[str]) -> None:
        """Drop the records of sources whose chunks were all deleted."""
        if self.recorded:
            self.records.forget(sources)

    @boundary("recording the calibration")
    def record_calibration(self, calibration: Calibration) -> None:
        """Keep `calibration` with the collection, for every process that opens it."""
        self.client.alter_collection_properties(
            self.name, properties={CALIBRATION_PROPERTY: json.dumps(calibration.as_dict())})
        self.calibration = calibration

    @boundary("sampling chunks")
    def sample(self, size: int, seed: int = 0) -> list[tuple[Hit, list[float]]]:
        """About `size` chunks spread over the collection, each with its vector (ids are
        hashes, so those from a seeded point of the id space on are a fair sample)."""
        if self.dimension is None:
            return []
        start = random.Random(seed).getrandbits(128).to_bytes(16, "big").hex()
        fields = [*OUTPUT_FIELDS, "vector"]
        rows = list(self.client.query(self.name, filter=self._scoped(f'id >= "{start}"'),
                                      output_fields=fields, limit=size))
        if len(rows) < size:  # wrap around the id space
            rows += list(self.client.query(self.name, filter=self._scoped(f'id < "{start}"'),
                                           output_fields=fields, limit=size - len(rows)))
        return [(_hit(row), list(map(float, row["vector"]))) for row in rows]

    @boundary("counting chunks")
    def count(self) -> int:
        if self.dimension is None:
            return 0
        with self._sealing:
            rows = self.client.query(self.name, filter=self._scoped(""),
                                     output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    @boundary("searching")
    def search(self, vector: list[float], k: int, expr: str = "") -> list[Hit]:
        """The `k` chunks whose vectors are nearest to `vector` (cosine), best first."""
        return [_hit(row) for row in self._dense(vector, k, expr, OUTPUT_FIELDS)]

    @boundary("searching")
    def search_lexical(self, query: str, k: int, expr: str = "") -> list[Hit]:
        """The `k` chunks that best match `query`'s terms (BM25), best first."""
        return [_hit(row, "bm25") for row in self._lexical(query, k, expr, OUTPUT_FIELDS)]

    def _dense(self, vector: list[float], k: int, expr: str,
               fields: list[str]) -> list[dict[str, Any]]:
        if self.dimension is None:
            return []
        self.check_dimension(len(vector))
        return self._search(vector, "vector", _dense_params(k), k, expr, fields)

    def _lexical(self, query: str, k: int, expr: str,
                 fields: list[str]) -> list[dict[str, Any]]:
        if self.dimension is None:
            return []
        if not self.lexical:
            raise StoreError(
                f"BM25 search is unavailable: collection {self.name!r} has no BM25 field (it "
                f"was made on a Milvus without BM25 functions, which need Milvus >= 2.5; this "
                f"one is {self.capabilities.version}); search dense: RANKWISE_SEARCH_MODE=dense")
        terms = self.analyzer.analyze(query) if self.analyzer else query
        if not terms.strip():  # only stopwords or punctuation: nothing BM25 can match
            return []
        return self._search(terms, "sparse", {"metric_type": "BM25"}, k, expr, fields)

    def _search(self, data: str | list[float], field: str, params: dict[str, Any], k: int,
                expr: str, fields: list[str]) -> list[dict[str, Any]]:
        expr = self._scoped(expr)
        return self.client.search(self.name, data=[data], anns_field=field, limit=k,
                                  output_fields=fields, search_params=params,
                                  **({"filter": expr} if expr else {}))[0]


def _fitted(terms: str) -> str:
    """BM25 terms within the field's size (segmentation can make them longer than the
    text), cut at a term boundary."""
    if len(terms.encode("utf-8")) <= MAX_TEXT_BYTES:
        return terms
    return terms.encode("utf-8")[:MAX_TEXT_BYTES].decode("utf-8", "ignore").rsplit(" ", 1)[0]


def _recorded_identity(properties: dict[str, str]) -> dict[str, str] | None:
    if IDENTITY_PROPERTY in properties:
        return json.loads(properties[IDENTITY_PROPERTY])
    if LEGACY_MODEL_PROPERTY in properties:  # Ollama, no prompts: what rankwise sent then
        return {"provider": "ollama", "model": properties[LEGACY_MODEL_PROPERTY],
                "query_prefix": "", "document_prefix": ""}
    return None


def _describe(identity: dict[str, str]) -> str:
    prompts = ", ".join(f"{kind} prefix {identity.get(f'{kind}_prefix', '')!r}"
                        for kind in ("query", "document"))
    roles = f", roles {identity['roles']}" if "roles" in identity else ""
    return f"{identity.get('provider')}:{identity.get('model')} ({prompts}{roles})"


def _describe_analyzer(record: dict[str, object]) -> str:
    return f"{record.get('language')!r} (analyser version {record.get('version')})"
