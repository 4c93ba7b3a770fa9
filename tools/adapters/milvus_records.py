"""What each source has stored, kept beside a collection so that an ingest costs what it
ingests, not what is stored.

Milvus Lite answers a filter on `source` by reading every row (an index on it does not
help), so diffing each group of sources against the collection made ingest quadratic in
the collection's size. A small side collection (`<name>__sources`) holds, per source, the
count and a digest of its chunk ids, looked up by primary key: an unchanged source is
recognised without reading a row of the collection, a new one without a scan; only a
changed source is looked up by `source`. Its `digest` field holds the ids' digest and,
after it, the content's fingerprint (records written before fingerprints have none: their
sources are chunked once more, and recorded whole). A record is written only once its source's
chunks are stored and its stale ones deleted, so a crash leaves an old record, which
makes the next run look the source up again: slower, never wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pymilvus import DataType, MilvusClient

from ..core.documents import MAX_SOURCE_BYTES
from ..core.filters import literal
from ..core.records import SourceRecord, record_of

QUERY_BATCH = 1000
DIGEST = 32  # characters of the ids' digest; the content's fingerprint follows them
QUERY_WINDOW = 16384  # Milvus caps offset + limit of one query
SUFFIX = "__sources"
RECORDED_PROPERTY = "rankwise.records"  # on the main collection: every source is recorded


def query_all(client: MilvusClient, collection: str, expr: str,
              fields: list[str]) -> Iterator[dict[str, Any]]:
    """All rows of `collection` matching `expr`: one plain query, or an iterator past
    Milvus's window (for the store and its records alike)."""
    rows = client.query(collection, filter=expr, output_fields=fields, limit=QUERY_WINDOW)
    if len(rows) < QUERY_WINDOW:
        yield from rows
        return
    iterator = client.query_iterator(collection, batch_size=QUERY_BATCH, filter=expr,
                                     output_fields=fields)
    try:
        while batch := iterator.next():
            yield from batch
    finally:
        iterator.close()


class SourceRecords:
    """The side collection of one rankwise collection (and one tenant's part of it)."""

    def __init__(self, client: MilvusClient, collection: str, tenant: str | None) -> None:
        self.client, self.name, self.tenant = client, collection + SUFFIX, tenant

    def key(self, source: str) -> str:
        place = f"{self.tenant}\x00{source}" if self.tenant is not None else source
        return hashlib.sha256(place.encode()).hexdigest()[:32]

    def create(self) -> None:
        """A new, empty side collection (an old one, of a collection since dropped, goes)."""
        if self.client.has_collection(self.name):
            self.client.drop_collection(self.name)
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, max_length=64, is_primary=True)
        schema.add_field("source", DataType.VARCHAR, max_length=MAX_SOURCE_BYTES)
        schema.add_field("tenant", DataType.VARCHAR, max_length=256)
        schema.add_field("count", DataType.INT64)
        schema.add_field("digest", DataType.VARCHAR, max_length=64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)  # Milvus needs one
        index = self.client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="L2")
        self.client.create_collection(self.name, schema=schema)
        self.client.create_index(self.name, index, sync=False)  # no 0.5 s polling for it

    def exists(self) -> bool:
        return bool(self.client.has_collection(self.name))

    def load(self) -> None:
        self.client.load_collection(self.name)

    def get(self, sources: Sequence[str]) -> dict[str, SourceRecord]:
        """The records of those `sources` that have one."""
        if not sources:
            return {}
        keys = {self.key(source): source for source in sources}
        rows = self.client.get(self.name, ids=list(keys), output_fields=["count", "digest"])
        return {keys[row["key"]]: SourceRecord(int(row["count"]), row["digest"][:DIGEST],
                                               row["digest"][DIGEST:])
                for row in rows}

    def put(self, records: dict[str, SourceRecord]) -> None:
        if records:
            self.client.upsert(self.name, [
                {"key": self.key(source), "source": source, "tenant": self.tenant or "",
                 "count": record.count, "digest": record.digest + record.content,
                 "vector": [0.0, 0.0]}
                for source, record in records.items()])

    def forget(self, sources: Sequence[str]) -> None:
        if sources:
            keys = ", ".join(literal(self.key(source)) for source in sources)
            self.client.delete(self.name, filter=f"key in [{keys}]")

    def sources(self) -> set[str]:
        """Every recorded source (of this tenant)."""
        return {row["source"] for row in query_all(
            self.client, self.name, f"tenant == {literal(self.tenant or '')}", ["source"])}

    def rebuild(self, rows: Iterable[dict[str, Any]]) -> None:
        """Records made from every (id, source) row of the collection: once, for a
        collection made before sources were recorded."""
        ids: dict[str, list[str]] = {}
        for row in rows:
            ids.setdefault(row["source"], []).append(row["id"])
        records = {source: record_of(chunk_ids) for source, chunk_ids in ids.items()}
        items = list(records.items())
        for start in range(0, len(items), QUERY_BATCH):
            self.put(dict(items[start:start + QUERY_BATCH]))
