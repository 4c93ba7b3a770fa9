"""The `retrieve` tool and the retriever: ToolMessage shape and LangChain's standard suites."""

from __future__ import annotations

import asyncio
import threading

import pytest
from fake_ollama import FakeOllama
from langchain_core.messages import ToolMessage
from langchain_tests.integration_tests import RetrieversIntegrationTests, ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests
from rankwise.tools import KnowledgeBase, KnowledgeBaseRetriever, RetrieveTool, Settings

CORPUS = [
    "Rotate the signing keys every ninety days.",
    "Nightly backups are kept for thirty days.",
    "The cafeteria serves soup on Mondays.",
    "Keys that leaked must be revoked at once.",
    "Backups are encrypted with the current key.",
]


@pytest.fixture(scope="module")
def shared_kb(tmp_path_factory):
    """A filled knowledge base on its own server, shared by the standard suites."""
    with FakeOllama() as server:
        settings = Settings(ollama_host=server.url, collection="suite",
                            milvus_uri=str(tmp_path_factory.mktemp("suite") / "kb.db"))
        kb = KnowledgeBase(settings)
        kb.add_texts(CORPUS, [{"source": f"doc{i}.md", "n": i} for i in range(len(CORPUS))])
        yield kb


def tool_call(args: dict) -> dict:
    return {"name": "retrieve", "args": args, "id": "call-1", "type": "tool_call"}


def test_tool_call_returns_a_tool_message_with_passages_and_hits(shared_kb):
    tool = RetrieveTool(knowledge_base=shared_kb, k=2)

    message = tool.invoke(tool_call({"query": "rotate signing keys"}))

    assert isinstance(message, ToolMessage)
    assert message.tool_call_id == "call-1" and message.name == "retrieve"
    assert message.content.startswith('<passage n="1" id=')
    assert 'source="doc0.md"' in message.content and CORPUS[0] in message.content
    assert [hit["source"] for hit in message.artifact["hits"]][0] == "doc0.md"
    assert len(message.artifact["hits"]) == 2 and message.artifact["query"] == "rotate signing keys"
    assert set(message.artifact["hits"][0]) == {"id", "text", "score", "source", "chunk_index",
                                                "metadata", "scored_by", "legs"}
    assert f'id="{message.artifact["hits"][1]["id"]}"' in message.content


def test_tool_call_with_k_and_filter(shared_kb):
    tool = RetrieveTool(knowledge_base=shared_kb)

    message = tool.invoke(tool_call({"query": "keys", "k": 1, "filter": {"n": {"$gte": 3}}}))

    assert len(message.artifact["hits"]) == 1
    assert message.artifact["hits"][0]["metadata"]["n"] >= 3


def test_tool_with_no_matches_says_so(shared_kb):
    tool = RetrieveTool(knowledge_base=shared_kb)
    message = tool.invoke(tool_call({"query": "keys", "filter": {"source": "nope"}}))
    assert message.content == "No passages found." and message.artifact["hits"] == []


def test_tool_schema_shows_the_model_only_its_arguments(shared_kb):
    schema = RetrieveTool(knowledge_base=shared_kb).tool_call_schema.model_json_schema()
    assert set(schema["properties"]) == {"query", "k", "filter"}
    assert schema["required"] == ["query"]


async def test_async_tool_call_does_not_block_the_event_loop(shared_kb):
    tool = RetrieveTool(knowledge_base=shared_kb)
    loop_thread = threading.get_ident()
    released = threading.Event()
    seen_threads = []
    original = shared_kb.search

    def waiting_search(*args, **kwargs):
        """Runs only once the event loop, free while it waits, releases it."""
        seen_threads.append(threading.get_ident())
        assert released.wait(30), "the event loop was blocked while the search ran"
        return original(*args, **kwargs)

    async def release():
        while not seen_threads:
            await asyncio.sleep(0.001)
        released.set()

    shared_kb.search = waiting_search
    task = asyncio.create_task(release())
    try:
        message = await tool.ainvoke(tool_call({"query": "backups"}))
    finally:
        task.cancel()
        del shared_kb.search
    assert isinstance(message, ToolMessage) and message.artifact
    assert seen_threads and seen_threads[0] != loop_thread


def test_retriever_returns_documents_with_ids_sources_and_scores(shared_kb):
    retriever = shared_kb.as_retriever(k=2)

    documents = retriever.invoke("nightly backups")

    assert len(documents) == 2
    assert documents[0].page_content == CORPUS[1]
    assert documents[0].metadata["source"] == "doc1.md"
    assert documents[0].id == documents[0].metadata["id"]
    assert documents[0].metadata["score"] >= documents[1].metadata["score"]


class _UsesSharedKnowledgeBase:
    @pytest.fixture(autouse=True)
    def _kb(self, shared_kb):
        self.kb = shared_kb


class _RetrieveToolSuite(_UsesSharedKnowledgeBase):
    @property
    def tool_constructor(self):
        return RetrieveTool

    @property
    def tool_constructor_params(self):
        return {"knowledge_base": self.kb}

    @property
    def tool_invoke_params_example(self):
        return {"query": "signing keys", "k": 2}


class TestRetrieveToolUnit(_RetrieveToolSuite, ToolsUnitTests):
    pass


class TestRetrieveToolIntegration(_RetrieveToolSuite, ToolsIntegrationTests):
    pass


class TestKnowledgeBaseRetriever(_UsesSharedKnowledgeBase, RetrieversIntegrationTests):
    @property
    def retriever_constructor(self):
        return KnowledgeBaseRetriever

    @property
    def retriever_constructor_params(self):
        return {"knowledge_base": self.kb, "k": 2}

    @property
    def retriever_query_example(self):
        return "backups and keys"


def test_rankwise_errors_are_answered_by_the_tool_and_bugs_raise_in_every_host(shared_kb,
                                                                               monkeypatch):
    from langchain_core.messages import AIMessage
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode

    tool = RetrieveTool(knowledge_base=shared_kb)
    empty = {"name": "retrieve", "args": {"query": "  "}, "id": "c1", "type": "tool_call"}
    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode([tool]))  # LangGraph's defaults
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    node = graph.compile()

    answered = tool.invoke(empty)
    assert answered.status == "error" and answered.content.startswith("Error: the query is")
    in_graph = node.invoke({"messages": [AIMessage("", tool_calls=[empty])]})["messages"][-1]
    assert in_graph.status == "error" and "the query is empty" in in_graph.content

    monkeypatch.setattr(KnowledgeBase, "search", lambda *args, **kwargs: 1 / 0)
    fine = {**empty, "args": {"query": "backups"}}
    with pytest.raises(ZeroDivisionError):
        tool.invoke(fine)
    with pytest.raises(ZeroDivisionError):
        node.invoke({"messages": [AIMessage("", tool_calls=[fine])]})
