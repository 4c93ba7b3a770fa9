"""Deleting, resetting and looking up chunks, as a LangChain `VectorStore` user expects
(`delete`, `get_by_ids`), without confusing the next ingest and without crossing tenants."""

from __future__ import annotations

import pytest
from rankwise.tools import InvalidArgumentError, KnowledgeBase

TEXTS = ["The cafeteria serves soup on Mondays.", "Rotate the keys every ninety days.",
         "Backups run nightly at two."]


@pytest.fixture
def filled(kb: KnowledgeBase) -> KnowledgeBase:
    kb.add_texts(TEXTS, [{"source": s} for s in ("food", "keys", "backups")])
    return kb


def test_get_by_ids_returns_documents_and_skips_unknown_ids(filled):
    hit = filled.search("soup", 1)[0]

    documents = filled.get_by_ids([hit.id, "no-such-id"])

    assert [(d.id, d.page_content, d.metadata["source"]) for d in documents] == [
        (hit.id, TEXTS[0], "food")]


def test_deleted_chunks_are_gone_and_a_later_ingest_restores_them(filled, ollama):
    hit = filled.search("soup", 1)[0]

    assert filled.delete([hit.id, hit.id, "no-such-id"]) == 1
    assert filled.count() == 2 and filled.get([hit.id]) == []
    assert filled.sources() == ["backups", "keys"]

    report = filled.add_texts(TEXTS, [{"source": s} for s in ("food", "keys", "backups")])
    assert (report.added, report.unchanged) == (1, 2)
    assert filled.get([hit.id])[0].text == TEXTS[0]


def test_deleting_a_source_deletes_its_chunks_only(kb, docs):
    kb.ingest([docs])
    notes = (docs / "notes.txt").resolve().as_posix()
    before = kb.count()

    deleted = kb.delete(source=notes)

    assert deleted >= 1 and kb.count() == before - deleted
    assert notes not in kb.sources() and len(kb.sources()) == 3
    assert kb.ingest([docs]).added == deleted, "the file's chunks come back, nothing else"


@pytest.mark.parametrize("arguments", [{}, {"ids": ["a"], "source": "s"}, {"ids": "abc"}])
def test_delete_needs_ids_or_a_source(filled, arguments):
    with pytest.raises(InvalidArgumentError, match="ids"):
        filled.delete(**arguments)
    assert filled.count() == 3


def test_reset_empties_the_collection_and_the_next_ingest_starts_afresh(filled):
    filled.reset()

    assert filled.count() == 0 and filled.sources() == []
    report = filled.add_texts(TEXTS[:1], [{"source": "food"}])
    assert report.added == 1 and filled.count() == 1


def test_a_tenants_reset_and_deletes_leave_other_tenants_alone(settings):
    acme = KnowledgeBase(settings.updated(tenant="acme"))
    globex = KnowledgeBase(settings.updated(tenant="globex"))
    acme.add_texts(TEXTS, [{"source": "shared-name"}] * 3)
    acme.close()
    globex.add_texts(TEXTS, [{"source": "shared-name"}] * 3)
    theirs = globex.search("soup", 1)[0].id
    globex.close()

    assert acme.delete([theirs]) == 0, "another tenant's id is not this tenant's to delete"
    acme.delete(source="shared-name")
    acme.add_texts(TEXTS[:1], [{"source": "mine"}])
    acme.reset()
    acme.close()

    assert globex.count() == 3 and globex.sources() == ["shared-name"]
    assert acme.count() == 0
    assert globex.add_texts(TEXTS, [{"source": "shared-name"}] * 3).unchanged == 3


def test_closing_one_of_two_knowledge_bases_on_one_file_leaves_the_other_open(settings):
    acme = KnowledgeBase(settings.updated(tenant="acme"))
    globex = KnowledgeBase(settings.updated(tenant="globex"))
    acme.add_texts(TEXTS[:1], [{"source": "a"}])
    globex.add_texts(TEXTS[1:], [{"source": "g"}] * 2)

    acme.close()

    assert globex.count() == 2 and globex.search("keys", 1)[0].source == "g"
    assert acme.count() == 1, "it reopens on its next use"


async def test_async_twins_answer_like_their_sync_forms(settings, ollama, docs):
    import asyncio

    from judges import Judge, ScriptedModel
    from rankwise.graphs import astream_ask, build_graph

    kb = KnowledgeBase(settings)
    report = await kb.aingest([docs])
    assert report.added == kb.count() > 0

    found = await asyncio.gather(kb.asearch("backups at two"), kb.asearch("rotate keys"))
    assert found[0][0].text == kb.search("backups at two")[0].text
    assert "Rotate" in found[1][0].text

    ollama.chat_reply = ScriptedModel(Judge(lambda q, p: 3.0 if "Backups" in p else 0.0),
                                      answer=lambda question, passages: "At two [1].")
    tokens: list[str] = []
    answer = await astream_ask("When do backups run?", build_graph(kb, rerank="pointwise"),
                               on_token=tokens.append)
    assert "".join(tokens) == answer.text == "At two [1]."
    assert answer.path == ["prepare", "retrieve", "rerank", "generate"]
