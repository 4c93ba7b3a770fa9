"""A dedicated rerank model over the `/v1/rerank` API (TEI, vLLM, llama.cpp, Cohere), alone
or as the cheap first cut before an LLM strategy; a reranker as a LangChain compressor."""

from __future__ import annotations

import pytest
from fake_ollama import Fault
from judges import Judge
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document
from rankwise.tools import (
    Hit,
    InvalidArgumentError,
    KnowledgeBase,
    ModelNotFoundError,
    ModelRequestError,
    Reranker,
)


def relevance(i: int) -> float:
    """Passage i's relevance: the rerank model and the LLM judge agree on it."""
    return (i * 7) % 30 / 10


def hits(n: int = 30) -> list[Hit]:
    return [Hit(id=f"h{i:02d}", text=f"passage {i}", score=1 - i / 100, source=f"d{i}.md")
            for i in range(n)]


def best(n: int, k: int) -> list[str]:
    return [f"h{i:02d}" for i in sorted(range(n), key=lambda i: -relevance(i))[:k]]


@pytest.fixture
def model_settings(settings, ollama):
    ollama.rerank_score = lambda query, text: relevance(int(text.split()[1]))
    return settings.updated(rerank_url=ollama.url, rerank_model="bge-reranker",
                            rerank_batch_size=8)


def rerank_requests(ollama) -> list[dict]:
    return [body for path, body in ollama.requests if path == "/v1/rerank"]


@pytest.mark.parametrize("shape", ["cohere", "tei"])
def test_the_rerank_model_alone_orders_by_its_scores_in_batches(model_settings, ollama, shape):
    ollama.rerank_format = shape
    result = Reranker(model_settings, strategy="cross_encoder", top_k=5).rerank("q", hits())

    assert [h.id for h in result.hits] == best(30, 5)
    assert [h.cross_score for h in result.hits] == sorted(
        (relevance(i) for i in range(30)), reverse=True)[:5]
    assert sorted(result.order) == sorted(h.id for h in hits())
    sent = rerank_requests(ollama)
    assert sorted(len(body["documents"]) for body in sent) == [6, 8, 8, 8], (
        "batches of rerank_batch_size, sent at once")
    assert all(body["model"] == "bge-reranker" and body["query"] == "q" for body in sent)
    assert len(result.calls) == 4 and {c.strategy for c in result.calls} == {"cross_encoder"}
    assert not any(path in ("/api/chat", "/v1/chat/completions") for path, _ in ollama.requests)


def test_the_rerank_model_cuts_before_the_llm_which_sees_only_its_best(model_settings, ollama):
    seen: set[int] = set()

    def judged(query: str, passage: str) -> float:
        seen.add(int(passage.split()[1]))
        return relevance(int(passage.split()[1]))

    ollama.chat_reply = Judge(judged)
    reranker = Reranker(model_settings, strategy="listwise", pre="cross_encoder", pre_k=10,
                        top_k=5, window=10, step=5)

    result = reranker.rerank("q", hits())

    assert [h.id for h in result.hits] == best(30, 5)
    assert result.pre == "cross_encoder" and result.reranked
    assert seen == {int(i[1:]) for i in best(30, 10)}, "the LLM sees the model's best 10"
    llm = [c for c in result.calls if c.strategy == "listwise"]
    assert llm and min(c.round for c in llm) == 1, "LLM rounds follow the model's round"
    assert result.order[10:] == best(30, 30)[10:], "the rest keep the model's order"


def test_a_failing_llm_after_the_model_falls_back_to_the_models_order(model_settings, ollama):
    ollama.script("/api/chat", *[Fault(status=500)] * 40)
    reranker = Reranker(model_settings, strategy="listwise", pre="cross_encoder", pre_k=10,
                        top_k=5, on_failure="fallback")

    result = reranker.rerank("q", hits())

    assert result.error and not result.reranked
    assert [h.id for h in result.hits] == best(30, 5)


def test_transient_rerank_api_faults_are_retried(model_settings, ollama):
    ollama.script("/v1/rerank", Fault(status=503), Fault(drop=True))
    result = Reranker(model_settings, strategy="cross_encoder", top_k=3).rerank("q", hits(6))

    assert [h.id for h in result.hits] == best(6, 3)
    assert len(rerank_requests(ollama)) == 3


def test_rerank_api_errors_are_one_clear_line(model_settings, ollama):
    unknown = model_settings.updated(rerank_model="no-such-reranker")
    with pytest.raises(ModelNotFoundError, match="no-such-reranker"):
        Reranker(unknown, strategy="cross_encoder").rerank("q", hits(4))
    assert len(rerank_requests(ollama)) == 1, "a missing model is never retried"

    ollama.rerank_score = lambda query, text: float("nan")
    with pytest.raises(ModelRequestError, match="scored 0 of the 4 documents"):
        Reranker(model_settings, strategy="cross_encoder").rerank("q", hits(4))

    with pytest.raises(InvalidArgumentError, match="RANKWISE_RERANK_URL"):
        Reranker(model_settings.updated(rerank_url=None), strategy="cross_encoder")
    with pytest.raises(InvalidArgumentError, match="pre"):
        Reranker(model_settings, strategy="none", pre="cross_encoder")


def test_a_reranker_is_a_langchain_compressor_over_any_retriever(kb: KnowledgeBase, model_settings,
                                                                  ollama):
    kb.add_texts(["Soup is served on Mondays.", "Fish is served on Fridays.",
                  "Keys rotate every ninety days.", "Backups run nightly at two."],
                 [{"source": f"s{i}"} for i in range(4)])
    ollama.rerank_score = lambda query, text: 1.0 if "Fridays" in text else 0.1
    retriever = ContextualCompressionRetriever(
        base_compressor=Reranker(model_settings, strategy="cross_encoder").as_compressor(top_k=2),
        base_retriever=kb.as_retriever(k=4))

    documents = retriever.invoke("when is fish served?")

    assert [d.page_content for d in documents][0] == "Fish is served on Fridays."
    assert len(documents) == 2
    assert documents[0].metadata["relevance_score"] == 1.0
    assert documents[0].metadata["rerank_rank"] == 1 and documents[0].metadata["source"] == "s1"


async def test_the_compressor_keeps_documents_that_share_an_id_apart(settings, ollama):
    ollama.chat_reply = Judge(lambda query, passage: 3.0 if "second" in passage else 0.0)
    compressor = Reranker(settings, strategy="pointwise").as_compressor()
    documents = [Document("first copy", id="same"), Document("second copy", id="same")]

    kept = await compressor.acompress_documents(documents, "which?")

    assert [d.page_content for d in kept] == ["second copy", "first copy"]
    assert kept[0].metadata["relevance_score"] > kept[1].metadata["relevance_score"]
