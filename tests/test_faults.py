"""Faults: Ollama down, slow or failing, models not pulled, store locked, other models."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter

import pytest
from fake_ollama import Fault
from rankwise.tools import (
    DimensionMismatchError,
    KnowledgeBase,
    ModelNotFoundError,
    OllamaUnavailableError,
    StoreLockedError,
)


def test_refused_connection_retries_then_names_the_fix(settings, refused_url):
    kb = KnowledgeBase(settings, ollama_host=refused_url, retry_attempts=3)

    with pytest.raises(OllamaUnavailableError, match="ollama serve.*OLLAMA_HOST"):
        kb.add_texts(["some text"])

    assert kb.count() == 0


def test_a_dead_server_gets_retry_attempts_tries_and_no_more(settings, ollama):
    kb = KnowledgeBase(settings, retry_attempts=3)
    ollama.script("/api/embed", *[Fault(reset=True)] * 20)

    with pytest.raises(OllamaUnavailableError):
        kb.add_texts(["some text", "other text"])

    assert ollama.count("/api/embed") == 3


def test_server_errors_are_retried_and_then_succeed(kb, ollama):
    ollama.script("/api/embed", Fault(status=500), Fault(status=503))

    report = kb.add_texts(["a passage about rivers"])

    assert report.added == 1
    assert ollama.count("/api/embed") == 3


def test_persistent_server_errors_end_in_a_bounded_clear_error(settings, ollama):
    kb = KnowledgeBase(settings, retry_attempts=2)
    ollama.script("/api/embed", *[Fault(status=500)] * 5)

    with pytest.raises(OllamaUnavailableError, match="HTTP 500"):
        kb.add_texts(["text"])

    assert ollama.count("/api/embed") == 2


def test_dropped_connection_is_retried(kb, ollama):
    ollama.script("/api/embed", Fault(drop=True))

    assert kb.add_texts(["a passage about lakes"]).added == 1
    assert ollama.count("/api/embed") == 2


def test_slow_answer_times_out_and_is_retried(settings, ollama):
    kb = KnowledgeBase(settings, request_timeout=0.3)
    ollama.script("/api/embed", Fault(delay=1.0))

    assert kb.add_texts(["a passage about hills"]).added == 1
    assert ollama.count("/api/embed") == 2


def test_missing_model_fails_at_once_with_the_pull_command(settings, ollama):
    kb = KnowledgeBase(settings, embed_model="mxbai-embed-large")

    with pytest.raises(ModelNotFoundError, match="ollama pull mxbai-embed-large"):
        kb.add_texts(["text"])

    # ingest asks for the model's window first: one request, not retried, nothing embedded
    assert ollama.count("/api/show") == 1 and ollama.count("/api/embed") == 0


def test_bad_request_is_not_retried(kb, ollama):
    ollama.script("/api/embed", Fault(status=400, body={"error": "input too long"}))

    with pytest.raises(ValueError, match="input too long"):
        kb.add_texts(["text"])

    assert ollama.count("/api/embed") == 1


def test_failed_embedding_midway_keeps_what_was_stored(settings, ollama):
    kb = KnowledgeBase(settings, embed_batch_size=1, embed_concurrency=1, retry_attempts=1)
    kb.add_texts(["first passage about owls"], [{"source": "owls"}])
    ollama.script("/api/embed", Fault(), *[Fault(status=500)] * 20)  # down midway

    with pytest.raises(OllamaUnavailableError):
        kb.add_texts(["new owls text", "more owls text"], [{"source": "owls"}] * 2)
    assert ollama.count("/api/embed") == 2 + 5, "a server that answered gets 5x the tries"
    ollama.faults.clear()

    texts = {h.text for h in kb.search("owls", k=5)}
    assert "first passage about owls" in texts


def test_collection_from_another_model_is_refused(settings, ollama):
    KnowledgeBase(settings).add_texts(["text about swans"])
    ollama.embed_models["all-minilm"] = 256

    with pytest.raises(DimensionMismatchError, match="nomic-embed-text.*all-minilm"):
        KnowledgeBase(settings, embed_model="all-minilm").search("swans")


def test_vectors_of_another_dimension_are_refused(settings, ollama):
    kb = KnowledgeBase(settings)
    kb.add_texts(["text about geese"])
    ollama.embed_models["nomic-embed-text"] = 128

    with pytest.raises(DimensionMismatchError, match="256-d.*128-d"):
        kb.search("geese")
    with pytest.raises(DimensionMismatchError):
        kb.add_texts(["another text"])
    assert kb.count() == 1


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from pymilvus import MilvusClient
    MilvusClient({path!r})
    print("ready", flush=True)
    time.sleep(60)
""")


@pytest.mark.slow
def test_store_locked_by_another_process_names_the_file_and_the_server_option(settings):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK.format(path=settings.milvus_uri)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError) as info:
            KnowledgeBase(settings).count()
        message = str(info.value)
        assert settings.milvus_uri in message
        assert "another process" in message and "RANKWISE_MILVUS_URI=http" in message
    finally:
        holder.kill()
        holder.wait()


def test_a_slow_serial_server_is_paced_and_embeds_every_chunk_once(settings, ollama):
    ollama.per_item = 0.02  # 50 texts a second, one request at a time
    ollama.parallel = 1
    kb = KnowledgeBase(settings, request_timeout=1.0, embed_batch_size=64)
    texts = [f"passage {i} about subject {i}" for i in range(120)]

    kb.add_texts(texts, [{"source": f"s{i}"} for i in range(120)])

    embedded = Counter(ollama.embedded_texts())  # with the calibration's own texts
    assert all(embedded[f"search_document: {t}"] == 1 for t in texts), "each chunk once"
    assert kb.count() == 120
    assert max(len(b["input"]) for p, b in ollama.requests if p == "/api/embed") < 64


def test_a_flaky_server_is_ridden_out_by_the_ingests_retry_budget(settings, ollama):
    import random

    chance = random.Random(7)
    ollama.script("/api/embed", *[Fault(status=503) if chance.random() < 0.4 else Fault()
                                  for _ in range(400)])
    kb = KnowledgeBase(settings, embed_batch_size=4)

    report = kb.add_texts([f"passage {i}" for i in range(200)],
                          [{"source": f"s{i}"} for i in range(200)])

    assert report.added == 200 and kb.count() == 200
    assert ollama.count("/api/embed") > 50, "failed requests were retried"
