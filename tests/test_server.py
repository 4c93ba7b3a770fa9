"""A Milvus server URI: several writers at once against a real Milvus-protocol server process
(milvus-lite's server mode), capability probing, and no half-made collection."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from judges import Judge, ScriptedModel
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException
from rankwise.tools import (
    DimensionMismatchError,
    FilterError,
    KnowledgeBase,
    StoreError,
    StoreUnavailableError,
)
from rankwise.tools.adapters.milvus import MilvusStore, open_client

pytestmark = pytest.mark.slow  # real processes


def start_milvus(data, port: int | None = None) -> tuple[subprocess.Popen, int]:
    """`python -m milvus_lite server` on `data` and a free (or the given) port."""
    if port is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir",
                                str(data), "--host", "127.0.0.1", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        assert process.poll() is None, "the Milvus-protocol server did not start"
        time.sleep(0.2)
    raise AssertionError("the Milvus-protocol server did not start in time")


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory):
    """`python -m milvus_lite server` on a free port; its URI."""
    process, port = start_milvus(tmp_path_factory.mktemp("milvus-server"))
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


def test_several_ingest_processes_at_once_then_search_and_ask(milvus_server, settings, ollama,
                                                              tmp_path):
    folders = []
    for writer in range(3):
        folder = tmp_path / f"part{writer}"
        folder.mkdir()
        for n in range(12):
            (folder / f"doc{n}.md").write_text(f"Writer {writer} wrote note {n} about topic "
                                               f"{writer * 100 + n}.")
        folders.append(folder)
    env = {**os.environ, "OLLAMA_HOST": ollama.url, "RANKWISE_MILVUS_URI": milvus_server,
           "RANKWISE_COLLECTION": "shared"}

    writers = [subprocess.Popen([sys.executable, "-m", "rankwise.cli.app", "ingest", str(f),
                                 "--quiet"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for f in folders]
    results = [(w.wait(180), *w.communicate()) for w in writers]

    for code, out, err in results:
        assert code == 0 and "Traceback" not in err, err
        assert "12 files: 12 chunks added" in out
    kb = KnowledgeBase(settings, milvus_uri=milvus_server, collection="shared")
    assert kb.count() == 36, "every writer's chunks, exactly once"
    assert kb.search("note 7 about topic 207", k=1)[0].source.endswith("part2/doc7.md")
    assert kb.search("Writer 1 wrote note 5 about topic 105", k=1,
                     mode="hybrid")[0].source.endswith("part1/doc5.md")

    ollama.chat_reply = ScriptedModel(Judge(lambda q, p: 3.0 if "207" in p else 0.0))
    asked = subprocess.run([sys.executable, "-m", "rankwise.cli.app", "ask",
                            "What did writer 2 note about topic 207?", "--rerank", "pointwise"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert asked.returncode == 0, asked.stderr
    assert "part2/doc7.md" in asked.stdout


class OldServer(MilvusClient):
    """A client that reports what Milvus 2.3 does: a server without BM25 functions."""

    def get_server_version(self, *args, **kwargs) -> str:
        return "v2.3.5"


def test_a_server_without_bm25_gets_a_dense_only_collection(milvus_server, settings):
    on_server = settings.updated(milvus_uri=milvus_server, collection="old_server")
    store = MilvusStore(on_server, {"model": "m"}, client=OldServer(milvus_server))
    assert not store.capabilities.bm25 and "needs Milvus >= 2.5" in store.capabilities.describe()

    store.ensure(3)
    store.insert([{"id": "a", "vector": [1.0, 0.0, 0.0], "text": "alpha", "source": "a.md",
                   "chunk_index": 0, "metadata": {}}])
    store.flush()

    assert store.search([1.0, 0.0, 0.0], 1)[0].source == "a.md"
    with pytest.raises(StoreError,
                       match="BM25 search is unavailable.*v2.3.5.*RANKWISE_SEARCH_MODE=dense"):
        store.search_lexical("alpha", 1)
    reopened = MilvusStore(on_server, {"model": "m"}, client=MilvusClient(milvus_server))
    assert reopened.dimension == 3 and not reopened.lexical


class FailingIndex(MilvusClient):
    """Creating the collection succeeds, its index then fails, as on Milvus 2.3 with BM25."""

    def create_index(self, *args, **kwargs):
        raise MilvusException(message="create index on 104 field is not supported")


def test_a_failed_creation_leaves_nothing_behind(milvus_server, settings):
    store = MilvusStore(settings.updated(milvus_uri=milvus_server, collection="broken"),
                        {"model": "m"}, client=FailingIndex(milvus_server))

    with pytest.raises(StoreError, match="nothing was left behind"):
        store.ensure(3)

    assert not MilvusClient(milvus_server).has_collection("broken")


class SlowIndex(MilvusClient):
    """A writer that stops between creating the collection and indexing it."""

    def __init__(self, uri: str, created: threading.Event) -> None:
        super().__init__(uri)
        self.created = created

    def create_index(self, *args, **kwargs):
        self.created.set()
        time.sleep(1.5)
        super().create_index(*args, **kwargs)


def row(name: str) -> dict:
    return {"id": name, "vector": [1.0, 0.0, 0.0], "text": f"note {name}", "source": f"{name}.md",
            "chunk_index": 0, "metadata": {}}


def test_a_writer_that_finds_the_collection_half_made_waits_for_its_index(milvus_server,
                                                                          settings):
    on_server = settings.updated(milvus_uri=milvus_server, collection="half_made")
    created = threading.Event()
    first = MilvusStore(on_server, {"model": "m"}, client=SlowIndex(milvus_server, created))
    making = threading.Thread(target=first.ensure, args=(3, ["note"]))
    making.start()
    assert created.wait(30)

    second = MilvusStore(on_server, {"model": "m"}, client=MilvusClient(milvus_server))
    second.insert([row("second")])  # created already, not yet indexed: waits, then writes
    making.join()
    first.insert([row("first")])
    second.flush()

    assert {hit.source for hit in second.search([1.0, 0.0, 0.0], 5)} == {"first.md",
                                                                          "second.md"}


def test_a_writer_that_loses_the_race_is_held_to_the_winners_dimension(milvus_server,
                                                                        settings):
    on_server = settings.updated(milvus_uri=milvus_server, collection="raced_dimension")
    winner, loser = (MilvusStore(on_server, {"model": "m"}, client=MilvusClient(milvus_server))
                     for _ in range(2))  # both opened before the collection exists

    winner.ensure(3)
    with pytest.raises(DimensionMismatchError, match="stores 3-d vectors.*produces 4-d"):
        loser.ensure(4)


def test_tenants_share_a_collection_and_see_only_their_own(settings, milvus_server):
    shared = settings.updated(milvus_uri=milvus_server, collection="tenants")
    acme = KnowledgeBase(shared, tenant="acme")
    globex = KnowledgeBase(shared, tenant="globex")
    acme.add_texts(["Acme keeps backups for thirty days."], [{"source": "policy.md"}])
    globex.add_texts(["Globex keeps backups for a year.", "Globex has a cafeteria."],
                     [{"source": "policy.md"}, {"source": "food.md"}])

    assert (acme.count(), globex.count()) == (1, 2)
    assert [h.text for h in acme.search("how long are backups kept", k=5)] == [
        "Acme keeps backups for thirty days."]
    assert {h.source for h in globex.search("backups", k=5, mode="hybrid")} == {
        "policy.md", "food.md"}
    theirs = globex.search("backups", k=1)[0].id
    assert acme.get([theirs]) == [], "another tenant's ids give nothing"

    with pytest.raises(StoreError, match="shared by tenants: set RANKWISE_TENANT"):
        KnowledgeBase(shared).count()
    plain = settings.updated(milvus_uri=milvus_server, collection="no_tenants")
    KnowledgeBase(plain).add_texts(["A collection without tenants."])
    with pytest.raises(StoreError, match="has no tenants"):
        KnowledgeBase(plain, tenant="acme").count()


def test_a_server_that_is_not_there_is_one_line(settings, refused_url):
    with pytest.raises(StoreError, match="cannot reach the Milvus server at .*RANKWISE_MILVUS_URI"):
        KnowledgeBase(settings, milvus_uri=refused_url).count()


def test_writers_over_the_same_folder_store_each_chunk_once(milvus_server, settings, ollama,
                                                            tmp_path):
    folder = tmp_path / "same"
    folder.mkdir()
    for n in range(30):
        (folder / f"doc{n}.md").write_text(f"Shared note {n} about topic {n}.")
    env = {**os.environ, "OLLAMA_HOST": ollama.url, "RANKWISE_MILVUS_URI": milvus_server,
           "RANKWISE_COLLECTION": "overlap"}
    writers = [subprocess.Popen([sys.executable, "-m", "rankwise.cli.app", "ingest",
                                 str(folder), "--quiet"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(3)]
    assert [w.wait(180) for w in writers] == [0, 0, 0], [w.communicate() for w in writers]

    kb = KnowledgeBase(settings, milvus_uri=milvus_server, collection="overlap")
    rows = kb.store.client.query("overlap", filter='id != ""', output_fields=["id"])
    assert len(rows) == len({row["id"] for row in rows}) == 30


def test_questions_asked_at_once_on_one_thread_are_all_kept(milvus_server, settings, ollama,
                                                            tmp_path):
    from langgraph.checkpoint.sqlite import SqliteSaver

    kb = KnowledgeBase(settings, milvus_uri=milvus_server, collection="asked")
    kb.add_texts(["Nightly backups are kept for thirty days."], [{"source": "b.md"}])
    ollama.chat_reply = ScriptedModel(Judge(lambda q, p: 3.0))
    threads = tmp_path / "threads.sqlite"
    env = {**os.environ, "OLLAMA_HOST": ollama.url, "RANKWISE_MILVUS_URI": milvus_server,
           "RANKWISE_COLLECTION": "asked", "RANKWISE_THREADS_DB": str(threads)}

    askers = [subprocess.Popen([sys.executable, "-m", "rankwise.cli.app", "ask",
                                f"Question {n} about backups?", "--thread", "shared",
                                "--rerank", "none"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for n in range(6)]
    assert [a.wait(180) for a in askers] == [0] * 6, [a.communicate() for a in askers]

    with SqliteSaver.from_conn_string(str(threads)) as saver:
        state = saver.get_tuple({"configurable": {"thread_id": "shared"}}).checkpoint
    asked = [m.content for m in state["channel_values"]["messages"] if m.type == "human"]
    assert sorted(asked) == sorted(f"Question {n} about backups?" for n in range(6))


def test_a_server_that_dies_and_comes_back(settings, ollama, tmp_path, monkeypatch):
    from rankwise.tools.adapters import milvus_errors

    process, port = start_milvus(tmp_path / "data")
    uri = f"http://127.0.0.1:{port}"
    kb = KnowledgeBase(settings, milvus_uri=uri, collection="dies")
    kb.add_texts(["Nightly backups are kept for thirty days."], [{"source": "b.md"}])
    with pytest.raises(FilterError, match="cannot use this filter"):
        kb.search("backups", raw_filter="chunk_index > 99999999999999999999")
    process.kill()
    process.wait()
    monkeypatch.setattr(milvus_errors, "UNREACHABLE_WAIT", 1.0)  # down for good: fail soon

    with pytest.raises(StoreUnavailableError, match="stopped answering while searching"):
        kb.search("backups")
    with pytest.raises(StoreUnavailableError, match="stopped answering while"):
        kb.add_texts(["Backups run at two."], [{"source": "c.md"}])
    env = {**os.environ, "OLLAMA_HOST": ollama.url, "RANKWISE_MILVUS_URI": uri,
           "RANKWISE_COLLECTION": "dies"}
    result = subprocess.run([sys.executable, "-m", "rankwise.cli.app", "search", "backups"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "Milvus" in result.stderr and "MilvusException" not in result.stderr

    monkeypatch.undo()  # back: the usual window to reconnect and reload
    process, _ = start_milvus(tmp_path / "data", port)  # back, its collection not loaded
    try:
        assert [h.source for h in kb.search("backups", k=1)] == ["b.md"]
    finally:
        process.terminate()
        process.wait(10)


def test_a_database_that_does_not_exist_is_named(settings, milvus_server):
    with pytest.raises(StoreError, match="'garbage' does not exist.*RANKWISE_MILVUS_DB"):
        KnowledgeBase(settings, milvus_uri=milvus_server, milvus_db="garbage").count()


def test_a_lite_client_does_not_ping_between_calls(settings, milvus_server):
    """Idle for about three minutes, a client that pings between calls is sent GOAWAY
    "too_many_pings" by Milvus Lite, and gRPC prints two error lines (seen under an idle
    MCP server and a long rerank): the Lite file's client keeps quiet between calls, and a
    server's keeps pymilvus's keepalive, which notices a dead connection."""
    def pings_between_calls(uri: str) -> bool:
        client = open_client(settings.model_copy(update={"milvus_uri": uri}))
        try:
            options = client._get_connection()._grpc_options  # what its channel was given
            return options.get("grpc.keepalive_permit_without_calls", True)
        finally:
            client.close()

    assert not pings_between_calls(settings.milvus_uri)
    assert pings_between_calls(milvus_server)
