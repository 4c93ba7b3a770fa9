"""Search: dense and hybrid, typed filters that escape values, bad input."""

from __future__ import annotations

import pytest
from rankwise.tools import (
    EmptyQueryError,
    FilterError,
    InvalidArgumentError,
    KnowledgeBase,
    compile_filter,
)

PASSAGES = [
    ("Rotate the signing keys every ninety days.", {"source": "keys.md", "page": 1,
                                                   "lang": "en"}),
    ("Nightly backups are kept for thirty days.", {"source": "backup.md", "page": 2,
                                                  "lang": "en"}),
    ("Die Schlüssel werden alle neunzig Tage rotiert.", {"source": "keys.de.md", "page": 3,
                                                        "lang": "de"}),
    ("The cafeteria serves soup on Mondays.", {"source": 'x" or source != "', "page": 4,
                                              "lang": "en"}),
    ("Backslash paths like C:\\temp\\keys are Windows paths.", {"source": "C:\\temp\\keys",
                                                             "page": 5, "lang": "en"}),
]


@pytest.fixture
def filled(kb) -> KnowledgeBase:
    texts, metadatas = zip(*PASSAGES)
    kb.add_texts(texts, metadatas)
    return kb


def test_dense_search_ranks_passages_sharing_words_first(filled):
    hits = filled.search("how often rotate signing keys", k=3)

    assert hits[0].source == "keys.md"
    assert hits[0].text == PASSAGES[0][0]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].metadata == {"page": 1, "lang": "en"}


def test_hybrid_search_fuses_dense_and_bm25(filled):
    hits = filled.search("nightly backups thirty days", k=2, mode="hybrid")

    assert hits[0].source == "backup.md"
    assert len(hits) == 2 and hits[0].score > hits[1].score


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_injection_in_a_filter_value_matches_nothing(filled, mode):
    hits = filled.search("keys", k=5, filter={"source": 'x" or source != "x'}, mode=mode)
    assert hits == []


def test_a_value_with_quotes_matches_itself_exactly(filled):
    hits = filled.search("soup", k=5, filter={"source": 'x" or source != "'})
    assert [h.source for h in hits] == ['x" or source != "']


def test_backslashes_in_values_are_escaped(filled):
    hits = filled.search("windows paths", k=5, filter={"source": "C:\\temp\\keys"})
    assert [h.source for h in hits] == ["C:\\temp\\keys"]


def test_membership_and_range_filters_on_metadata(filled):
    hits = filled.search("keys", k=5, filter={"lang": ["de"]})
    assert [h.source for h in hits] == ["keys.de.md"]

    hits = filled.search("days", k=5, filter={"page": {"$gte": 2, "$lt": 4}})
    assert sorted(h.metadata["page"] for h in hits) == [2, 3]

    hits = filled.search("days", k=5, filter={"lang": "en", "source": {"$nin": ["keys.md"]}})
    assert {h.source for h in hits} == {"backup.md", 'x" or source != "', "C:\\temp\\keys"}


def test_raw_filter_is_an_explicit_option(filled):
    hits = filled.search("keys", k=5, raw_filter='metadata["page"] == 1')
    assert [h.source for h in hits] == ["keys.md"]


@pytest.mark.parametrize("spec, message", [
    ({"page": {"$regex": "x"}}, "unknown operator"),
    ({'bad"key': 1}, "filter key"),
    ({"page": []}, "non-empty list"),
    ({"page": {"$in": "x"}}, "non-empty list"),
    ({"page": float("nan")}, "finite"),
    ({"page": {"a": 1}}, "unknown operator"),
    ({"page": None}, "type NoneType"),
])
def test_malformed_filters_are_rejected_with_the_reason(spec, message):
    with pytest.raises(FilterError, match=message):
        compile_filter(spec)


def test_filter_compiles_to_escaped_literals():
    assert compile_filter({"source": 'a"b', "page": {"$lt": 3}, "draft": False}) == (
        '(source == "a\\"b") and (metadata["page"] < 3) and (metadata["draft"] == false)'
    )


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query_is_a_clear_error(filled, query):
    with pytest.raises(EmptyQueryError, match="query is empty"):
        filled.search(query)


@pytest.mark.parametrize("k", [0, -1, 1001, 100_000])
def test_k_out_of_bounds_is_a_clear_error(filled, k):
    with pytest.raises(InvalidArgumentError, match="k must be between 1 and 1000"):
        filled.search("keys", k=k)


def test_searching_an_empty_collection_returns_nothing(kb, ollama):
    assert kb.search("anything", k=3) == []
    assert ollama.count("/api/embed") == 0
