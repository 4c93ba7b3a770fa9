"""The LangGraph state machine: routes, rewrites, citations, streaming, checkpoints."""

from __future__ import annotations

import pytest
from fake_ollama import Fault
from judges import Judge, ScriptedModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from rankwise.graphs import aask, ask, build_graph, show, to_dot, to_mermaid, to_png
from rankwise.tools import (
    EmptyQueryError,
    KnowledgeBase,
    OllamaRequestError,
    OllamaUnavailableError,
    Reranker,
)

FACTS = {
    "backups.md": "Nightly backups run at two in the morning and are kept for thirty days.",
    "keys.md": "Signing keys are rotated every ninety days by the security team.",
    "food.md": "The cafeteria serves soup on Mondays and fish on Fridays.",
}


@pytest.fixture
def kb(settings) -> KnowledgeBase:
    knowledge = KnowledgeBase(settings)
    knowledge.add_texts(list(FACTS.values()), [{"source": s} for s in FACTS])
    return knowledge


@pytest.fixture
def model(ollama) -> ScriptedModel:
    def relevance(query: str, passage: str) -> float:
        words = {w for w in query.lower().split() if len(w) > 3}
        return 3.0 if any(w in passage.lower() for w in words) else 0.0

    scripted = ScriptedModel(Judge(relevance))
    ollama.chat_reply = scripted
    return scripted


def chat_bodies(ollama) -> list[dict]:
    return [body for path, body in ollama.requests if path == "/api/chat"]


def test_pipeline_retrieves_reranks_and_answers_with_checked_citations(kb, model, ollama):
    graph = build_graph(kb, rerank="pointwise", top_n=3, top_k=2)

    answer = ask("How long are nightly backups kept?", graph)

    assert answer.text == "From the documents [1]."
    assert answer.passages[0]["source"] == "backups.md"
    assert answer.citations == [{"n": 1, "id": answer.passages[0]["id"],
                                 "source": "backups.md", "chunk_index": 0,
                                 "score": answer.passages[0]["score"]}]
    assert answer.state["rewrites"] == 0
    final_prompt = chat_bodies(ollama)[-1]["messages"]
    assert final_prompt[0]["role"] == "system" and "Cite" in final_prompt[0]["content"]
    assert '<passage n="1" id=' in final_prompt[-1]["content"]


def test_invented_citations_are_removed_and_counted(kb, model):
    model.answer = lambda question, passages: "Thirty days [1][7], says the policy [9]."
    graph = build_graph(kb, rerank="pointwise", top_n=3, top_k=1)

    answer = ask("How long are nightly backups kept?", graph)

    note = "the answer cited [7], [9], which the model was not given; those citations were removed"
    assert answer.text == f"Thirty days [1], says the policy.\n\n(Note: {note}.)"
    assert answer.invalid_citations == 2 and answer.warnings == [note]
    assert [c["n"] for c in answer.citations] == [1]


def test_nothing_relevant_rewrites_the_query_a_bounded_number_of_times(kb, model, ollama):
    graph = build_graph(kb, rerank="none", min_score=0.99, max_rewrites=2)

    answer = ask("Where do penguins live?", graph)

    assert answer.state["rewrites"] == 2
    assert answer.text.startswith("The knowledge base does not say")
    assert answer.citations == [] and answer.passages == []
    assert answer.warnings == [
        "nothing relevant was found for 'Where do penguins live?'; searched again for "
        "'Where do penguins live? explained'",
        "nothing relevant was found for 'Where do penguins live? explained'; searched again "
        "for 'Where do penguins live? explained explained'",
        "the knowledge base had no passage relevant to the question"]
    searched = [body["input"][0] for path, body in ollama.requests if path == "/api/embed"]
    assert searched[-3:] == [f"search_query: {q}" for q in (
        "Where do penguins live?", "Where do penguins live? explained",
        "Where do penguins live? explained explained")]


def test_a_relevant_passage_after_a_rewrite_is_answered(kb, model, ollama):
    model.judge = Judge(lambda query, passage: 3.0 if "backups" in passage else 0.0)
    model.rewrite = lambda query: "nightly backups kept thirty days"
    graph = build_graph(kb, rerank="pointwise", top_n=1, top_k=1, max_rewrites=3)

    answer = ask("Is there soup?", graph)  # finds the cafeteria first

    assert answer.state["rewrites"] == 1
    assert answer.state["query"] == "nightly backups kept thirty days"
    assert answer.passages[0]["source"] == "backups.md" and answer.citations


def test_agentic_mode_calls_the_retrieve_tool_when_documents_are_needed(kb, model, ollama):
    graph = build_graph(kb, mode="agentic", top_k=2)

    answer = ask("How often are signing keys rotated?", graph)

    messages = answer.state["messages"]
    kinds = [type(m).__name__ for m in messages]
    assert kinds == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    assert messages[1].tool_calls[0]["name"] == "retrieve"
    assert messages[2].artifact["hits"][0]["source"]
    assert answer.citations[0]["id"] == messages[2].artifact["hits"][0]["id"]
    assert any(body.get("tools") for body in chat_bodies(ollama))


def test_agentic_mode_answers_directly_when_no_documents_are_needed(kb, model):
    model.needs_documents = lambda question: False
    graph = build_graph(kb, mode="agentic")

    answer = ask("Hi there!", graph)

    assert [type(m).__name__ for m in answer.state["messages"]] == ["HumanMessage", "AIMessage"]
    assert answer.text == "Hello! No documents needed." and answer.citations == []


def test_a_failing_tool_becomes_an_error_message_the_agent_sees(kb, model, ollama):
    graph = build_graph(kb, mode="agentic")
    ollama.script("/api/embed", *[Fault(status=400, body={"error": "input too long"})])

    answer = ask("How often are signing keys rotated?", graph)

    tool_message = next(m for m in answer.state["messages"] if isinstance(m, ToolMessage))
    assert tool_message.status == "error" and "input too long" in tool_message.content
    assert isinstance(answer.state["messages"][-1], AIMessage)


def test_answer_tokens_stream_in_order(kb, model):
    model.answer = lambda q, p: "Backups are kept for thirty days [1]."
    graph = build_graph(kb, rerank="none", top_k=1)

    tokens = [chunk.content for chunk, meta in graph.stream(
        {"messages": [HumanMessage("How long are nightly backups kept?")]},
        {"configurable": {"thread_id": "s"}}, stream_mode="messages")
        if isinstance(chunk, AIMessageChunk) and meta["langgraph_node"] == "generate"]

    assert len(tokens) > 3
    assert "".join(tokens) == "Backups are kept for thirty days [1]."


def test_updates_stream_names_each_node(kb, model):
    graph = build_graph(kb, rerank="listwise")
    nodes = [next(iter(update)) for update in graph.stream(
        {"messages": [HumanMessage("How long are nightly backups kept?")]},
        stream_mode="updates")]
    assert nodes == ["prepare", "retrieve", "rerank", "generate"]


async def test_async_ask_and_stream(kb, model):
    graph = build_graph(kb, rerank="tournament", checkpointer=InMemorySaver())
    answer = await aask("How long are nightly backups kept?", graph)
    assert answer.citations[0]["source"] == "backups.md"

    chunks = [c async for c, _ in graph.astream(
        {"messages": [HumanMessage("Which fish on Fridays?")]},
        {"configurable": {"thread_id": "async"}}, stream_mode="messages")]
    assert chunks


def test_follow_up_questions_on_a_thread_see_the_conversation(kb, model, ollama):
    graph = build_graph(kb, rerank="none", checkpointer=InMemorySaver())

    first = ask("How long are nightly backups kept?", graph, thread_id="t1")
    ask("And when do they run?", graph, thread_id="t1")

    prompt = chat_bodies(ollama)[-1]["messages"]
    assert [m["role"] for m in prompt] == ["system", "user", "assistant", "user"]
    assert prompt[1]["content"] == "How long are nightly backups kept?"
    assert prompt[2]["content"] == first.text
    other = ask("And when do they run?", graph, thread_id="t2")
    assert len(other.state["messages"]) == 2


def test_ollama_down_mid_run_then_resume_from_the_checkpoint(kb, model, ollama, settings):
    graph = build_graph(kb, rerank="pointwise", checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "resume"}}
    judge_calls = 3  # pointwise grades of the three candidates succeed, then Ollama fails
    ollama.script("/api/chat", *[Fault()] * judge_calls,
                  *[Fault(status=503)] * settings.retry_attempts)

    with pytest.raises(OllamaUnavailableError, match="HTTP 503"):
        ask("How long are nightly backups kept?", graph, thread_id="resume")

    snapshot = graph.get_state(config)
    assert snapshot.next == ("generate",)
    assert snapshot.values["passages"][0]["source"] == "backups.md"
    embeds_before = ollama.count("/api/embed")

    state = graph.invoke(None, config)

    assert state["answer"] == "From the documents [1]." and state["citations"]
    assert ollama.count("/api/embed") == embeds_before, "resumed without retrieving again"


def test_only_transient_errors_are_retried_by_the_graph(kb, model, ollama):
    graph = build_graph(kb, rerank="none")
    ollama.script("/api/chat", Fault(status=500))
    assert ask("How long are nightly backups kept?", graph).citations
    assert len(chat_bodies(ollama)) == 2

    ollama.requests.clear()
    ollama.script("/api/chat", Fault(status=400, body={"error": "bad request"}))
    with pytest.raises(OllamaRequestError, match="bad request"):
        ask("How long are nightly backups kept?", graph)
    assert len(chat_bodies(ollama)) == 1


def test_state_with_tool_artifacts_survives_the_sqlite_checkpointer(kb, model, tmp_path):
    path = str(tmp_path / "threads.sqlite")
    with SqliteSaver.from_conn_string(path) as saver:
        ask("How often are signing keys rotated?", build_graph(kb, mode="agentic",
                                                                checkpointer=saver),
            thread_id="persist")
    with SqliteSaver.from_conn_string(path) as saver:
        graph = build_graph(kb, mode="agentic", checkpointer=saver)
        values = graph.get_state({"configurable": {"thread_id": "persist"}}).values

    tool_message = next(m for m in values["messages"] if isinstance(m, ToolMessage))
    assert tool_message.artifact["hits"][0]["source"] == "keys.md"
    assert values["citations"][0]["source"] == "keys.md"


def test_empty_question_is_a_clear_error(kb, model):
    with pytest.raises(EmptyQueryError, match="question is empty"):
        ask("   ", build_graph(kb))


def test_the_graph_draws_offline(kb):
    for mode in ("pipeline", "agentic"):
        graph = build_graph(kb, mode=mode)
        assert "prepare" in to_mermaid(graph)
        assert to_png(graph).startswith(b"\x89PNG")


def test_the_example_notebook_runs_headless(ollama, model, tmp_path, monkeypatch):
    import nbformat
    from conftest import ROOT
    from nbclient import NotebookClient

    monkeypatch.setenv("OLLAMA_HOST", ollama.url)
    monkeypatch.setenv("RANKWISE_MILVUS_URI", str(tmp_path / "notebook.db"))
    notebook = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)

    NotebookClient(notebook, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "examples")}}).execute()

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs)
    assert "3 files: " in text and "chunks added" in text
    pictures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pictures) == 2, "the graph is drawn, then the way the question went"
    assert "From the documents [1]." in text and "backups.md" in text
    pages = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("cited passages" in page and "backups.md" in page for page in pages)
    assert any("<svg" in page and 'class="kept"' in page for page in pages), "the rerank"


def condense_prompts(ollama) -> list[str]:
    return [b["messages"][-1]["content"] for b in chat_bodies(ollama)
            if b["messages"][-1]["content"].startswith("Rewrite the user's last question")]


@pytest.mark.parametrize("mode", ["pipeline", "agentic"])
def test_a_follow_up_retrieves_and_reranks_with_the_condensed_question(kb, model, ollama, mode):
    model.condense = lambda history, question: "When do nightly backups run?"
    graph = build_graph(kb, mode=mode, rerank="listwise", checkpointer=InMemorySaver())
    ask("How long are nightly backups kept?", graph, thread_id="c")
    assert condense_prompts(ollama) == [], "a first question is not condensed"

    answer = ask("And when do they run?", graph, thread_id="c")

    prompt = condense_prompts(ollama)[0]
    assert "User: How long are nightly backups kept?" in prompt
    assert "Last question: And when do they run?" in prompt
    assert ollama.embedded_texts()[-1] == "search_query: When do nightly backups run?"
    assert answer.standalone == "When do nightly backups run?"
    assert answer.citations[0]["source"] == "backups.md"
    last = chat_bodies(ollama)[-1]["messages"]
    assert last[-1]["role"] in ("user", "tool")
    assert any("And when do they run?" in m["content"] for m in last if m["role"] == "user")
    if mode == "pipeline":
        judged = [b for b in chat_bodies(ollama) if "<passage>" in b["messages"][-1]["content"]]
        assert "Query: When do nightly backups run?" in judged[-1]["messages"][-1]["content"]


def test_a_rerank_that_fell_back_is_a_warning_on_the_answer(kb, model, ollama, settings):
    reranker = Reranker(settings, strategy="listwise", on_failure="fallback")
    graph = build_graph(kb, reranker=reranker, top_k=2)
    ollama.script("/api/chat", *[Fault(status=400, body={"error": "no"})])

    answer = ask("How long are nightly backups kept?", graph)

    assert answer.warnings and answer.warnings[0].startswith(
        "rerank fell back to retrieval order:")
    assert answer.text == "From the documents [1]."


def test_the_cli_prints_the_warnings(kb, model, settings, monkeypatch):
    from rankwise.cli.app import app
    from typer.testing import CliRunner

    model.answer = lambda question, passages: "Kept thirty days [4]."
    kb.close()
    monkeypatch.setenv("OLLAMA_HOST", settings.ollama_host)
    monkeypatch.setenv("RANKWISE_MILVUS_URI", settings.milvus_uri)
    monkeypatch.setenv("RANKWISE_COLLECTION", settings.collection)

    result = CliRunner().invoke(app, ["ask", "How long are backups kept?", "--rerank", "none"])

    assert result.exit_code == 0
    assert "warning: the answer cited [4], which the model was not given" in result.stderr


def test_the_drawing_labels_conditions_and_tells_start_from_end(kb, tmp_path, capsys,
                                                                monkeypatch):
    graph = build_graph(kb)
    dot = to_dot(graph)
    assert '"rerank" -> "rewrite" [style=dashed, label=" search again "]' in dot
    assert '"__start__" [label="start"' in dot and '"__end__" [label="end"' in dot

    picture = show(graph, tmp_path / "graph.png")  # outside IPython: a file
    assert picture.read_bytes().startswith(b"\x89PNG")

    monkeypatch.setenv("PATH", str(tmp_path))  # no Graphviz
    text = show(graph)
    assert text == to_mermaid(graph)
    assert "apt-get install graphviz" in capsys.readouterr().err


def test_the_graph_retrieves_as_the_search_mode_setting_says(settings, model):
    kb = KnowledgeBase(settings, search_mode="lexical")
    kb.add_texts(list(FACTS.values()), [{"source": s} for s in FACTS])

    answer = ask("How long are nightly backups kept?",
                 build_graph(kb, rerank="none", top_n=3, top_k=2))

    assert answer.passages and {p["scored_by"] for p in answer.passages} == {"bm25"}
    assert answer.passages[0]["source"] == "backups.md"
