"""An ingest costs what it ingests, not what is stored: unchanged and new sources are told
apart by primary-key lookups of their records, an unchanged source is not even split, and
only a changed source is read by `source` (a scan on Milvus Lite). Counted in store calls
and splits, never in seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from rankwise.tools import KnowledgeBase


@pytest.fixture
def scans(monkeypatch):
    """Counts the store's reads that filter on `source` (each a full scan on Lite)."""
    counted: list[str] = []

    def watch(kb: KnowledgeBase) -> list[str]:
        spy(monkeypatch, kb.store.client, "query", lambda collection, filter="", **kw: (
            counted.append(filter)
            if "source" in filter and not collection.endswith("__sources") else None))
        return counted
    return watch


def spy(monkeypatch, owner: object, name: str, note: Callable[..., object]) -> None:
    """`owner.name` runs as before, after `note` has seen its arguments."""
    real = getattr(owner, name)

    def spying(*args, **kwargs):
        note(*args, **kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spying)


def texts(start: int, count: int) -> tuple[list[str], list[dict]]:
    return ([f"Note {n} says the topic {n} is settled." for n in range(start, start + count)],
            [{"source": f"note{n}.md"} for n in range(start, start + count)])


def test_an_unchanged_reingest_embeds_nothing_and_reads_nothing_by_source(kb, ollama, scans):
    kb.add_texts(*texts(0, 300))
    counted = scans(kb)
    ollama.requests.clear()

    report = kb.add_texts(*texts(0, 300))

    assert (report.added, report.unchanged, report.removed) == (0, 300, 0)
    assert ollama.count("/api/embed") == 0 and counted == []


def test_new_sources_into_a_filled_collection_read_nothing_by_source(kb, scans):
    kb.add_texts(*texts(0, 300))
    counted = scans(kb)

    report = kb.add_texts(*texts(300, 300))

    assert (report.added, report.unchanged) == (300, 0) and counted == []
    assert kb.count() == 600


def test_a_changed_source_is_read_by_source_and_its_record_kept(kb, scans):
    kb.add_texts(*texts(0, 20))
    counted = scans(kb)

    changed = kb.add_texts(["Note 3 now says something else entirely."], [{"source": "note3.md"}])
    again = kb.add_texts(["Note 3 now says something else entirely."], [{"source": "note3.md"}])

    assert (changed.added, changed.removed) == (1, 1) and len(counted) == 1
    assert (again.added, again.unchanged, again.removed) == (0, 1, 0) and len(counted) == 1
    assert kb.count() == 20


def made_before_records(kb: KnowledgeBase, count: int) -> KnowledgeBase:
    """`kb` closed with `count` notes stored as an earlier rankwise left them (no source
    records), and reopened."""
    kb.add_texts(*texts(0, count))
    store = kb.store
    store.client.drop_collection(store.records.name)
    store.client.alter_collection_properties(store.name, properties={"rankwise.records": "0"})
    kb.close()
    return KnowledgeBase(kb.settings)


def test_a_collection_made_before_records_gets_them_in_one_pass(kb, scans):
    kb = made_before_records(kb, 50)

    first = kb.add_texts(*texts(0, 50))
    counted = scans(kb)
    second = kb.add_texts(*texts(0, 60))

    assert (first.added, first.unchanged) == (0, 50)
    assert (second.added, second.unchanged) == (10, 50) and counted == []


def test_lookups_at_once_record_a_collection_made_before_records_once(kb, monkeypatch):
    kb = made_before_records(kb, 20)
    records, rebuilt = kb.store.records, []
    rebuild = records.rebuild

    def slow_rebuild(rows):
        rebuilt.append(True)
        time.sleep(0.3)  # a second lookup arrives meanwhile
        return rebuild(rows)

    monkeypatch.setattr(records, "rebuild", slow_rebuild)
    with ThreadPoolExecutor(2) as pool:
        found = list(pool.map(kb.store.source_records, [["note1.md"], ["note2.md"]]))

    assert len(rebuilt) == 1 and [list(f) for f in found] == [["note1.md"], ["note2.md"]]
    kb.close()


def test_an_unchanged_reingest_looks_thousands_of_sources_up_at_once(kb, monkeypatch):
    kb.add_texts(*texts(0, 3000))
    store = kb.store
    asked: list[int] = []
    spy(monkeypatch, store.client, "get", lambda collection, ids, **kw: (
        asked.append(len(ids)) if collection == store.records.name else None))

    report = kb.add_texts(*texts(0, 3000))

    assert report.unchanged == 3000 and asked == [3000], "one request, not one per thousand"


def test_large_files_are_not_read_far_ahead_of_their_splitting(kb, tmp_path, monkeypatch):
    """Looking records up ahead holds a few groups' text, not every large file's."""
    from rankwise.tools.core.chunking import Chunker
    from rankwise.tools.services import ingest as ingest_module
    from rankwise.tools.services import knowledge_base as kb_module

    kb.add_texts(["Something already stored."])
    monkeypatch.setattr(ingest_module, "_LOOKUP_CHARS", 1000)  # files of 2,000 count as large
    for n in range(3):
        (tmp_path / f"big{n}.txt").write_text(f"Paragraph {n} of a large file. " * 64)
    events: list[str] = []
    load, split = kb_module.load_file, Chunker.split
    monkeypatch.setattr(kb_module, "load_file", lambda path: (
        events.append(f"read {path.name}"), load(path))[1])
    monkeypatch.setattr(Chunker, "split", lambda self, source: (
        events.append(f"split {source.name.rsplit('/', 1)[-1]}"), split(self, source))[1])

    report = kb.ingest([tmp_path])

    assert report.added >= 3 and events.index("split big0.txt") < events.index("read big2.txt")


def test_a_run_stopped_before_its_records_leaves_nothing_twice(kb, monkeypatch):
    kb.add_texts(*texts(0, 10))
    store = kb.store

    def stopped(records):
        raise KeyboardInterrupt  # the process dies after storing, before recording

    monkeypatch.setattr(store, "record_sources", stopped)
    with pytest.raises(KeyboardInterrupt):
        kb.add_texts(*texts(10, 10))
    monkeypatch.undo()

    rerun = kb.add_texts(*texts(0, 20))

    assert rerun.added == 0 and rerun.unchanged == 20
    ids = [row["id"] for row in store.client.query(store.name, filter='id != ""',
                                                     output_fields=["id"])]
    assert len(ids) == len(set(ids)) == 20


@pytest.fixture
def splits(monkeypatch) -> list[str]:
    """The names of the sources the chunker splits."""
    from rankwise.tools.core.chunking import Chunker

    split = Chunker.split
    counted: list[str] = []

    def counting(self, source):
        counted.append(source.name)
        return split(self, source)

    monkeypatch.setattr(Chunker, "split", counting)
    return counted


def test_an_unchanged_reingest_splits_nothing(kb, splits):
    kb.add_texts(*texts(0, 40))
    assert len(splits) == 40
    splits.clear()

    report = kb.add_texts(*texts(0, 40))
    edited = kb.add_texts(["Note 7 was edited."], [{"source": "note7.md"}])

    assert (report.added, report.unchanged) == (0, 40) and splits == ["note7.md"]
    assert (edited.added, edited.removed) == (1, 1)


def test_other_chunking_settings_split_again(kb, splits):
    kb.add_texts(*texts(0, 5))
    splits.clear()
    smaller = KnowledgeBase(kb.settings.updated(chunk_size=64, chunk_overlap=8))

    report = smaller.add_texts(*texts(0, 5))

    assert len(splits) == 5 and (report.added, report.unchanged) == (0, 5)
    smaller.close()


def test_records_without_fingerprints_learn_them_on_the_next_ingest(kb, ollama, splits):
    kb.add_texts(*texts(0, 30))
    records = kb.store.records
    rows = records.client.query(records.name, filter='key != ""', output_fields=["*"])
    records.client.upsert(records.name, [{**row, "digest": row["digest"][:32]} for row in rows])
    splits.clear()
    ollama.requests.clear()

    first = kb.add_texts(*texts(0, 30))  # as an earlier rankwise recorded them
    split_first = len(splits)
    second = kb.add_texts(*texts(0, 30))

    assert (first.added, first.unchanged, second.unchanged) == (0, 30, 30)
    assert split_first == 30 and len(splits) == 30, "split once, then recognised unsplit"
    assert ollama.count("/api/embed") == 0


def test_a_tenants_ingest_looks_chunks_up_by_id_not_by_filter(settings, monkeypatch):
    acme = KnowledgeBase(settings.updated(tenant="acme"))
    globex = KnowledgeBase(settings.updated(tenant="globex"))
    acme.add_texts(*texts(0, 20))
    globex.add_texts(*texts(0, 20))  # the same texts: the tenant makes the ids differ
    filters: list[str] = []
    spy(monkeypatch, acme.store.client, "query",
        lambda collection, filter="", **kw: filters.append(filter))

    again = acme.add_texts(*texts(0, 25))
    theirs = globex.search("topic 3", 1)[0].id

    assert (again.added, again.unchanged) == (5, 20)
    assert not [f for f in filters if "id in" in f], "Milvus Lite reads every row for those"
    assert acme.get_by_ids([theirs]) == [], "another tenant's chunk is not found by its id"
    acme.close()
    globex.close()


def test_an_ingest_into_a_filled_collection_queries_no_rows_of_it(kb, monkeypatch):
    kb.add_texts(*texts(0, 50))
    store = kb.store
    queried: list[str] = []
    spy(monkeypatch, store.client, "query", lambda collection, filter="", **kw: (
        queried.append(collection) if "count(*)" not in kw.get("output_fields", []) else None))

    unchanged = kb.add_texts(*texts(0, 50))
    new = kb.add_texts(*texts(50, 10))  # then counted, to know whether to recalibrate

    assert (unchanged.unchanged, new.added) == (50, 10)
    assert store.name not in queried, "any query but by primary key reads every row on Lite"


def test_an_ingest_seals_segments_as_it_goes_only_on_milvus_lite(kb, monkeypatch):
    """Lite buffers rows in memory until sealed; a server seals its own segments, and each
    flush sent to it would only wait seconds and leave a small segment to merge again."""
    kb.add_texts(*texts(0, 10))
    store = kb.store
    flushed: list[str] = []
    flush = store.client.flush
    monkeypatch.setattr(store.client, "flush", lambda name, **kw: (
        flushed.append(name), flush(name, **kw))[1])

    kb.add_texts(*texts(10, 3000))
    on_lite = len(flushed)
    flushed.clear()
    monkeypatch.setattr(store, "capabilities", replace(store.capabilities, lite=False))
    kb.add_texts(*texts(3010, 3000))

    assert on_lite >= 2, "sealed as the ingest went"
    assert flushed == [], "a server seals its own segments"
    assert kb.count() == 6010


def test_landed_vectors_are_stored_many_batches_to_a_request(kb, ollama, monkeypatch):
    """Each insert is a request to Milvus: a fast embedding server's small batches are
    stored together, not one request each."""
    kb.add_texts(*texts(0, 10))
    client = kb.store.client
    inserts: list[int] = []
    insert = client.insert
    monkeypatch.setattr(client, "insert", lambda name, data, **kw: (
        inserts.append(len(data)), insert(name, data, **kw))[1])
    ollama.requests.clear()

    kb.add_texts(*texts(10, 3000))

    assert sum(inserts) == 3000 and kb.count() == 3010
    assert 4 * len(inserts) < ollama.count("/api/embed"), (inserts, ollama.count("/api/embed"))
