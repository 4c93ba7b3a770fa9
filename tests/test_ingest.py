"""Ingest: idempotence, replacement, pruning, skipped files, batching and concurrency."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from langchain_core.documents import Document
from rankwise.tools import KnowledgeBase
from rankwise.tools.core.chunking import Chunk, Chunker
from rankwise.tools.core.documents import load_file
from rankwise.tools.services import ingest as ingest_module


def stored(kb: KnowledgeBase) -> dict[str, set[str]]:
    """Stored chunk ids per source, read back from Milvus."""
    sources = kb.store.sources()
    return {s: ids for s, ids in kb.store.ids_by_source(sorted(sources)).items()}


def expected_ids(kb: KnowledgeBase, path: Path) -> set[str]:
    chunker = Chunker(kb.settings.chunk_size, kb.settings.chunk_overlap)
    return {c.id for c in chunker.split(load_file(path))}


def test_ingest_stores_every_file_with_text_source_and_metadata(kb, docs):
    report = kb.ingest([docs])

    assert report.sources == 4 and report.added > 0 and not report.skipped
    by_source = stored(kb)
    assert set(by_source) == {p.resolve().as_posix() for p in docs.rglob("*") if p.is_file()}
    hit = kb.search("nightly backups thirty days", k=1)[0]
    assert hit.source.endswith("page.html")
    assert "Nightly backups run at two" in hit.text and "var x" not in hit.text
    assert hit.metadata == {"file_type": "html", "title": "Backups", "headings": "Backups"}


def test_reingesting_unchanged_files_writes_and_embeds_nothing(kb, docs, ollama):
    first = kb.ingest([docs])
    before = stored(kb)
    ollama.requests.clear()

    second = kb.ingest([docs])

    assert second.added == 0 and second.removed == 0
    assert second.unchanged == first.added
    assert ollama.count("/api/embed") == 0
    assert stored(kb) == before


def test_changed_file_replaces_its_chunks_and_leaves_others(kb, docs, ollama):
    kb.ingest([docs])
    before = stored(kb)
    changed = docs / "notes.txt"
    changed.write_text("The cafeteria now serves curry on Tuesdays. Tea is free.\n")
    ollama.requests.clear()

    report = kb.ingest([docs])

    after = stored(kb)
    key = changed.resolve().as_posix()
    assert after[key] == expected_ids(kb, changed)
    assert after[key].isdisjoint(before[key])
    assert {s: i for s, i in after.items() if s != key} == {
        s: i for s, i in before.items() if s != key
    }
    assert report.added == len(after[key]) and report.removed == len(before[key])
    assert ollama.embedded_texts() == [
        f"search_document: {c.text}" for c in Chunker(200, 40).split(load_file(changed))
    ]
    assert "curry" in kb.search("curry tuesdays", k=1)[0].text


def test_prune_removes_files_that_are_gone_only_under_the_given_paths(kb, docs, tmp_path):
    other = tmp_path / "other.md"
    other.write_text("A separate file about gardening and tomatoes.")
    kb.ingest([docs, other])
    (docs / "notes.txt").unlink()

    kept = kb.ingest([docs])
    assert (docs / "notes.txt").resolve().as_posix() in stored(kb)
    assert kept.removed == 0

    report = kb.ingest([docs], prune=True)

    sources = set(stored(kb))
    assert (docs / "notes.txt").resolve().as_posix() not in sources
    assert other.resolve().as_posix() in sources
    assert report.removed >= 1


def test_binary_and_non_utf8_files_are_skipped_with_a_message(kb, docs):
    (docs / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (docs / "latin1.md").write_bytes("Caf\xe9 cr\xe8me".encode("latin-1"))

    report = kb.ingest([docs])

    assert report.sources == 4
    messages = "\n".join(report.skipped)
    assert "image.txt: binary file" in messages
    assert "latin1.md: not UTF-8" in messages and "iconv" in messages
    assert len(stored(kb)) == 4


def test_include_and_exclude_globs(kb, docs):
    report = kb.ingest([docs], include=["*.md", "*.rst"], exclude=["guide/keys.rst"])

    assert report.sources == 1
    assert [Path(s).name for s in stored(kb)] == ["install.md"]


def test_documents_in_code_group_by_source_and_replace(kb):
    kb.add_documents([
        Document(page_content="Alpha paragraph about llamas.", metadata={"source": "a", "n": 1}),
        Document(page_content="Second part about alpacas.", metadata={"source": "a", "n": 2}),
        Document(page_content="Beta text about otters.", metadata={"source": "b"}),
    ])
    assert {s: len(i) for s, i in stored(kb).items()} == {"a": 2, "b": 1}

    report = kb.add_documents([Document(page_content="Only llamas now.", metadata={"source": "a"})])

    assert report.removed == 2 and report.added == 1
    assert {s: len(i) for s, i in stored(kb).items()} == {"a": 1, "b": 1}
    hit = kb.search("otters", k=1)[0]
    assert hit.source == "b" and hit.metadata == {}


def test_plain_texts_without_source_are_content_addressed(kb):
    kb.add_texts(["one text about rivers", "another about mountains"])
    again = kb.add_texts(["one text about rivers"])

    assert again.added == 0 and again.unchanged == 1
    assert kb.count() == 2


def test_batches_are_bounded_by_count_and_characters(settings, ollama):
    kb = KnowledgeBase(settings, embed_batch_size=5, embed_batch_chars=1000, chunk_size=150,
                       chunk_overlap=0)
    kb.add_texts([f"text number {i} " + "word " * 25 for i in range(23)],
                 [{"source": f"s{i}"} for i in range(23)])

    batches = [body["input"] for path, body in ollama.requests if path == "/api/embed"]
    sizes, chars = [len(b) for b in batches], [sum(map(len, b)) for b in batches]
    assert max(sizes) <= 5 and max(chars) <= 1000, "the calibration's requests too"
    chunks = [t for b in batches for t in b if t.startswith("search_document: text number")]
    assert len(chunks) == 23
    assert kb.count() == 23


def test_embedding_requests_run_concurrently_on_a_server_that_computes_in_parallel(
        settings, ollama):
    ollama.latency = 0.15
    kb = KnowledgeBase(settings, embed_batch_size=2, embed_concurrency=4)

    kb.add_texts([f"passage {i} about topic {i}" for i in range(48)],
                 [{"source": f"s{i}"} for i in range(48)])

    assert ollama.max_in_flight >= 3, "more requests in flight while throughput grows"
    assert ollama.max_in_flight <= 4 + 1
    assert kb.count() == 48



def test_the_embedding_server_gets_requests_while_rows_are_being_stored(settings, ollama,
                                                                        monkeypatch):
    """Rows are stored on a thread of their own: a slow insert never leaves the server
    without work."""
    kb = KnowledgeBase(settings, collection="busy", embed_batch_size=8)
    kb.add_texts(["opens the store"])
    insert, waited = kb.store.client.insert, []

    def slow_insert(*args, **kwargs):
        if not waited:  # the first insert of the ingest below, with batches still to come
            before = len(ollama.requests)
            deadline = time.monotonic() + 5
            while len(ollama.requests) == before and time.monotonic() < deadline:
                time.sleep(0.01)
            waited.append(len(ollama.requests) - before)
        return insert(*args, **kwargs)

    monkeypatch.setattr(kb.store.client, "insert", slow_insert)
    ollama.latency = 0.03
    texts = [f"note {n} on subject {n % 13}" for n in range(600)]

    report = kb.add_texts(texts, [{"source": f"n{n}"} for n in range(600)])

    assert waited and waited[0] > 0, "no embedding request was sent while rows were stored"
    assert report.added == 600 and kb.count() == 601



def test_segments_are_sealed_at_exact_row_counts_so_every_run_makes_the_same(
        settings, ollama, monkeypatch):
    """Milvus Lite's BM25 scores depend on how rows fall into segments: seals at whatever
    count the last insert reached made the same documents rank differently run to run."""
    monkeypatch.setattr(ingest_module, "_FLUSH_EVERY_ROWS", 40)
    kb = KnowledgeBase(settings, collection="sealed", embed_batch_size=7)
    kb.add_texts(["opens the store"])
    inserted, sealed_at = [0], []
    insert, flush = kb.store.client.insert, kb.store.client.flush

    def counting_insert(name, rows, **kwargs):
        inserted[0] += len(rows)
        return insert(name, rows, **kwargs)

    def recording_flush(*args, **kwargs):
        sealed_at.append(inserted[0])
        return flush(*args, **kwargs)

    monkeypatch.setattr(kb.store.client, "insert", counting_insert)
    monkeypatch.setattr(kb.store.client, "flush", recording_flush)
    ollama.latency = 0.01

    kb.add_texts([f"entry {n} of the log" for n in range(130)],
                 [{"source": f"e{n}"} for n in range(130)])

    assert sealed_at == [40, 80, 120, 130]
    assert kb.count() == 131


KILLED_INGEST = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {tests!r})
    from rankwise.tools import KnowledgeBase, Settings
    from rankwise.tools.adapters import milvus as store_module
    from rankwise.tools.services import ingest as ingest_module

    ingest_module._INSERT_ROWS = 4  # rows stored a batch at a time: the kill lands midway
    inserted = 0
    original = store_module.MilvusStore.insert

    def insert_then_die(self, rows):
        global inserted
        original(self, rows)
        inserted += 1
        if inserted == 2:
            os._exit(17)

    store_module.MilvusStore.insert = insert_then_die
    settings = Settings(ollama_host={url!r}, milvus_uri={db!r}, collection="test",
                        chunk_size=200, chunk_overlap=40, embed_batch_size=4,
                        embed_concurrency=1)
    KnowledgeBase(settings).ingest([{docs!r}])
""")


@pytest.mark.slow
def test_ingest_killed_midway_then_rerun_gives_exactly_the_right_chunks(
    settings, ollama, docs, tmp_path
):
    big = docs / "big.md"
    big.write_text("\n\n".join(f"Paragraph {i} talks about subject {i} at length. " * 10
                               for i in range(30)))
    kb = KnowledgeBase(settings)
    kb.ingest([docs])
    kb.close()
    big.write_text("\n\n".join(f"Rewritten paragraph {i} covers topic {i} instead. " * 10
                               for i in range(25)))

    script = KILLED_INGEST.format(tests=str(Path(__file__).parent), url=ollama.url,
                                  db=settings.milvus_uri, docs=str(docs))
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert killed.returncode == 17, killed.stderr[-2000:]

    rerun = KnowledgeBase(settings)
    partial = stored(rerun)[big.resolve().as_posix()]
    assert partial - expected_ids(rerun, big), "the killed run must have left stale chunks"
    rerun.ingest([docs])

    final = stored(rerun)
    assert final[big.resolve().as_posix()] == expected_ids(rerun, big)
    for path in docs.rglob("*"):
        if path.is_file():
            assert final[path.resolve().as_posix()] == expected_ids(rerun, path)


def test_a_large_file_lets_its_chunks_go_as_they_are_stored(kb, ollama, tmp_path):
    """Each chunk was held until the whole file was stored: with a 20 MB file that was
    35,821 chunks beside Milvus Lite's own copy at the end of the ingest."""
    big = tmp_path / "big.txt"
    big.write_text("\n\n".join(f"Paragraph {n} says the nightly backups of host {n} run at "
                               f"two and are kept for {n % 90} days." for n in range(4000)))
    ollama.latency = 0.01
    samples: list[tuple[int, int]] = []  # (texts embedded so far, chunks alive)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            samples.append((len(ollama.embedded_texts()),
                            sum(isinstance(o, Chunk) for o in gc.get_objects())))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        report = kb.ingest([big])
    finally:
        done.set()
        sampler.join()

    late = [alive for embedded, alive in samples if embedded >= 0.8 * report.added]
    assert report.added > 500 and late
    assert max(late) < report.added / 2


def test_a_count_while_rows_are_sealed_is_right(kb):
    """Milvus Lite's count(*) read 1 of 201 rows about once in 40 seals; an ingest's
    calibration counts while the last rows are sealed, and found too few to measure."""
    kb.add_texts(["The first text. It has two sentences."])
    store, total, wrong = kb.store, 1, []
    for trial in range(150):
        store.insert([{"id": f"{trial:04d}{n:028x}", "vector": [1.0] * store.dimension,
                       "text": "t", "source": "s", "chunk_index": n, "metadata": {},
                       "context": ""} for n in range(64)])
        total += 64
        sealing = threading.Thread(target=store.flush)
        sealing.start()
        while sealing.is_alive():
            if (counted := store.count()) != total:
                wrong.append((counted, total))
        sealing.join()

    assert wrong == [] and store.count() == total
