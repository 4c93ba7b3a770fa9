"""The BM25 leg: stemmed and segmented terms, the analyser kept with the collection,
Chinese and mixed documents, hybrid hits that say how they were scored."""

from __future__ import annotations

import pytest
from rankwise.tools import AnalyzerMismatchError, KnowledgeBase, RetrieveTool

CHINESE = [
    ("语义检索系统先把文档切成段落，再用向量模型计算相似度。", "zh/semantic.md"),
    ("今天的午饭是牛肉面和一碗热汤，味道很好。", "zh/lunch.md"),
    ("混合检索把关键词匹配和向量相似度结合起来，使用Milvus存储。", "zh/hybrid.md"),
    ("The nightly backup job copies the database to object storage.", "en/backup.md"),
]
ENGLISH = [
    ("Run the installer, then run the migrations once.", "run.md"),
    ("The cafeteria serves soup on Mondays and fish on Fridays.", "food.md"),
    ("Signing keys rotate every ninety days.", "keys.md"),
]


def _fill(kb: KnowledgeBase, passages: list[tuple[str, str]]) -> KnowledgeBase:
    kb.add_texts([text for text, _ in passages], [{"source": s} for _, s in passages])
    return kb


def test_a_chinese_keyword_is_found_inside_unspaced_text(settings):
    kb = _fill(KnowledgeBase(settings), CHINESE)

    lexical = kb.search("语义检索", k=2, mode="lexical")
    hybrid = kb.search("语义检索", k=2, mode="hybrid")

    assert lexical[0].source == "zh/semantic.md" and lexical[0].scored_by == "bm25"
    assert hybrid[0].source == "zh/semantic.md"
    assert lexical[0].text == CHINESE[0][0]  # the raw text comes back, never the terms


def test_mixed_chinese_and_english_terms_both_match(settings):
    kb = _fill(KnowledgeBase(settings), CHINESE)

    assert kb.search("milvus 混合", k=1, mode="lexical")[0].source == "zh/hybrid.md"
    assert kb.search("database backup", k=1, mode="lexical")[0].source == "en/backup.md"


@pytest.mark.parametrize(("language", "found"), [("auto", True), ("english", True),
                                                 ("none", False)])
def test_running_finds_run_where_words_are_stemmed(settings, language, found):
    kb = _fill(KnowledgeBase(settings, lexical_language=language), ENGLISH)

    hits = kb.search("running", k=3, mode="lexical")

    assert ([h.source for h in hits][:1] == ["run.md"]) is found


def test_stopwords_alone_match_nothing(settings):
    kb = _fill(KnowledgeBase(settings), ENGLISH)
    assert kb.search("the and of", k=3, mode="lexical") == []


def test_a_new_collection_detects_its_language_and_records_it(settings):
    german = [("Die Schlüssel werden alle neunzig Tage erneuert, und die alten Schlüssel "
               "bleiben eine Woche gültig.", "de.md")]
    kb = _fill(KnowledgeBase(settings), german)
    assert kb.store.analyzer.language == "german"
    kb.close()

    reopened = KnowledgeBase(settings)
    assert reopened.search("Schlüssel erneuern", k=1, mode="lexical")[0].source == "de.md"
    assert reopened.store.analyzer.language == "german"


def test_the_recorded_analyser_is_checked_on_open(settings):
    _fill(KnowledgeBase(settings, lexical_language="english"), ENGLISH).close()

    with pytest.raises(AnalyzerMismatchError,
                       match="analysed as 'english'.*'german'.*RANKWISE_LEXICAL_LANGUAGE"):
        KnowledgeBase(settings, lexical_language="german").count()
    assert KnowledgeBase(settings, lexical_language="english").count() == 3


def test_hybrid_hits_say_how_each_search_scored_them(settings):
    kb = _fill(KnowledgeBase(settings), ENGLISH)

    hits = kb.search("run the installer", k=3, mode="hybrid")
    dense = kb.search("run the installer", k=3, mode="dense")

    top = hits[0]
    assert top.source == "run.md" and top.scored_by == "fused"
    assert set(top.legs) == {"dense", "lexical"}
    assert top.legs["dense"].rank == 1 and top.legs["lexical"].rank == 1
    assert top.legs["dense"].score == pytest.approx(dense[0].score)
    assert dense[0].scored_by == "cosine" and dense[0].legs == {}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_search_mode_comes_from_the_settings(settings):
    kb = _fill(KnowledgeBase(settings, search_mode="lexical"), ENGLISH)
    assert {h.scored_by for h in kb.search("run", k=2)} == {"bm25"}
    assert {h.scored_by for h in kb.search("run", k=2, mode="dense")} == {"cosine"}


def test_the_tools_and_the_retriever_search_as_the_settings_say(settings):
    kb = _fill(KnowledgeBase(settings, search_mode="lexical"), ENGLISH)

    content = RetrieveTool(knowledge_base=kb).invoke(
        {"type": "tool_call", "id": "1", "name": "retrieve", "args": {"query": "running"}})
    assert {h["scored_by"] for h in content.artifact["hits"]} == {"bm25"}
    documents = kb.as_retriever(k=2).invoke("running")
    assert documents[0].metadata["scored_by"] == "bm25"
    dense = kb.as_retriever(k=2, search_type="similarity").invoke("running")
    assert {d.metadata["scored_by"] for d in dense} == {"cosine"}


def test_a_collection_made_before_the_analyser_still_searches_and_ingests(settings):
    """Earlier releases let Milvus analyse the raw `text` field; such a collection keeps
    working, its BM25 queries sent as typed."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    kb = KnowledgeBase(settings)
    client = MilvusClient(settings.milvus_uri)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, max_length=64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=256)
    schema.add_field("text", DataType.VARCHAR, max_length=65535, enable_analyzer=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    for name in ("source", "chunk_index", "metadata"):
        schema.add_field(name, {"source": DataType.VARCHAR, "chunk_index": DataType.INT64,
                                "metadata": DataType.JSON}[name],
                         **({"max_length": 4096} if name == "source" else {}))
    schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                 input_field_names=["text"], output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="COSINE")
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(settings.collection, schema=schema, index_params=index,
                             properties={"rankwise.embed_model": "nomic-embed-text"})
    text = "Signing keys rotate every ninety days."
    client.insert(settings.collection, [{
        "id": "old", "vector": kb.embedder.embed_documents([text])[0], "text": text,
        "source": "old.md", "chunk_index": 0, "metadata": {}}])
    client.close()

    kb = KnowledgeBase(settings, query_prefix="", document_prefix="")  # what it was made with
    kb.add_texts(["The cafeteria serves soup on Mondays."], [{"source": "new.md"}])

    assert kb.store.analyzer is None
    assert kb.search("signing keys", k=1, mode="lexical")[0].source == "old.md"
    assert kb.search("cafeteria soup", k=1, mode="hybrid")[0].source == "new.md"
