"""What a notebook shows: answers, hits and reranks as HTML and pictures, and the graph
with the way one run went through it, all rendered headless."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

import pytest
from fake_ollama import Fault
from judges import Judge, ScriptedModel
from langgraph.checkpoint.memory import InMemorySaver
from rankwise.graphs import ask, build_graph, run_path, show, to_dot
from rankwise.tools import Hit, KnowledgeBase, Reranker

FACTS = {"backups.md": "Nightly backups are kept for thirty days.",
         "food.md": "The cafeteria serves <b>soup</b> on Mondays."}
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def filled(kb: KnowledgeBase) -> KnowledgeBase:
    kb.add_texts(list(FACTS.values()), [{"source": s} for s in FACTS])
    return kb


@pytest.fixture
def graph(filled, ollama):
    ollama.chat_reply = ScriptedModel(
        Judge(lambda q, p: 3.0 if "backups" in p and "backups" in q.lower() else 0.0),
        answer=lambda question, passages: "Kept for thirty days [1].")
    return build_graph(filled, rerank="pointwise", checkpointer=InMemorySaver())


def nodes_marked(dot: str, mark: str) -> set[str]:
    return set(re.findall(rf'^  "(\w+)" \[.*tooltip="{mark}"', dot, re.M))


def test_an_answer_shows_its_text_linked_to_the_passages_it_cites(graph):
    answer = ask("How long are nightly backups kept?", graph, thread_id="t")
    follow = ask("And the backups of Mondays?", graph, thread_id="t")

    page = answer._repr_html_()
    anchor = re.search(r'<a href="#([\w-]+)">\[1\]</a>', page).group(1)
    assert f'<details id="{anchor}">' in page, "[1] links to the cited passage"
    assert "backups.md" in page and FACTS["backups.md"] in page
    assert "searched as" not in page
    assert "searched as:</i> And the backups of Mondays? (How long" in follow._repr_html_()
    assert repr(answer) == "Answer('Kept for thirty days [1].', 1 citations, thread 't')"


def test_hits_show_as_an_escaped_table_and_a_short_repr(filled):
    hits = filled.search("soup", 2)

    page = hits._repr_html_()
    assert "&lt;b&gt;soup&lt;/b&gt;" in page and "<b>soup" not in page
    assert page.count("<tr>") == 3 and "food.md" in page
    assert repr(hits).splitlines()[0] == "Hits(2)" and len(repr(hits).splitlines()) == 3


def candidates(n: int) -> list[Hit]:
    return [Hit(id=f"h{i:02d}", text=f"passage {i}", score=1 - i / 100,
                source=f"/docs/part-{i}.md") for i in range(n)]


@pytest.mark.parametrize(("strategy", "judged"), [("pointwise", "grade"),
                                                  ("pairwise", "wins")])
def test_the_rerank_picture_marks_what_was_kept_and_why(settings, ollama, tmp_path, strategy,
                                                        judged):
    ollama.chat_reply = Judge(lambda q, p: (int(p.split()[1]) * 7) % 12 / 4)
    result = Reranker(settings, strategy=strategy, top_k=4).rerank("q", candidates(12))

    svg = ElementTree.fromstring(result.picture())
    kept = svg.findall(f"{SVG}g[@class='kept']")
    assert len(kept) == 4 and len(svg.findall(f"{SVG}g[@class='dropped']")) == 8
    texts = [t.text or "" for t in svg.iter(f"{SVG}text")]
    assert any(f"{result.llm_calls} LLM calls" in t for t in texts)
    best = result.hits[0]
    assert any(t.startswith(f"part-{best.id[1:].lstrip('0') or '0'}.md") and judged in t
               for t in texts)
    saved = result.save_picture(tmp_path / "rerank.svg")
    assert saved.read_text().startswith("<svg") and "<svg" in result._repr_html_()
    assert repr(result).startswith(f"RerankResult({strategy}: 12 -> 4 kept")


def test_reasons_and_a_fallback_are_in_the_picture(settings, ollama):
    ollama.chat_reply = lambda body: "3 - it names the <topic>"
    reasoned = Reranker(settings, strategy="pointwise", top_k=2, with_reasons=True)
    texts = " ".join(t.text or "" for t in ElementTree.fromstring(
        reasoned.rerank("q", candidates(3)).picture()).iter(f"{SVG}text"))
    assert "1. it names the <topic>" in texts

    ollama.script("/api/chat", *[Fault(status=500)] * 40)
    failing = Reranker(settings, strategy="listwise", top_k=2, on_failure="fallback")
    texts = " ".join(t.text or "" for t in ElementTree.fromstring(
        failing.rerank("q", candidates(3)).picture()).iter(f"{SVG}text"))
    assert "fell back" in texts


def test_the_run_drawing_marks_exactly_the_nodes_that_ran(graph, ollama):
    first = ask("How long are nightly backups kept?", graph, thread_id="t")
    assert first.path == ["prepare", "retrieve", "rerank", "generate"]
    assert nodes_marked(to_dot(graph, first.path), "ran") == {
        "__start__", "prepare", "retrieve", "rerank", "generate", "__end__"}

    follow = ask("And how long for the backups?", graph, thread_id="t")
    assert follow.path == ["prepare", "condense", "retrieve", "rerank", "generate"]
    assert run_path(graph, "t") == follow.path, "the checkpointer tells the same way"

    ollama.chat_reply = ScriptedModel(Judge(lambda q, p: 0.0))  # nothing relevant
    missed = ask("What is the colour of the sky?", graph, thread_id="u")
    dot = to_dot(graph, missed.path)
    assert missed.path.count("rewrite") == 1 and "rewrite" in nodes_marked(dot, "ran")
    assert "condense" in nodes_marked(dot, "did not run")
    assert re.search(r'"rerank" -> "rewrite" \[.*label=" search again "', dot)
    assert re.search(r'"retrieve" -> "rerank" \[.*label="×2 "', dot), "the loop, twice"


def test_show_draws_a_runs_way_as_a_png(graph, tmp_path):
    answer = ask("How long are nightly backups kept?", graph, thread_id="t")

    drawn = show(graph, answer, tmp_path / "run.png")

    assert drawn.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert show(graph, thread_id="t", path=tmp_path / "thread.png").stat().st_size > 1000


def test_the_strategy_comparison_notebook_runs_headless(tmp_path, monkeypatch):
    import nbformat
    from conftest import ROOT
    from nbclient import NotebookClient
    from test_evaluation import write_dataset

    monkeypatch.setenv("RANKWISE_NOTEBOOK_DATA", str(write_dataset(tmp_path / "tiny")))
    monkeypatch.setenv("RANKWISE_NOTEBOOK_QUERIES", "2")
    notebook = nbformat.read(ROOT / "examples" / "compare_rerankers.ipynb", as_version=4)

    NotebookClient(notebook, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "examples")}}).execute()

    pages = [o["data"]["text/html"] for cell in notebook.cells if cell.cell_type == "code"
             for o in cell.outputs if "text/html" in o.get("data", {})]
    table = next(page for page in pages if "<caption>tiny: 2 judged queries" in page)
    for row in ("dense", "dense+pointwise", "dense+pairwise", "dense+cross_encoder",
                "dense+cross_encoder&gt;listwise"):
        assert f"<td>{row}</td>" in table
    pictures = [page for page in pages if page.startswith("<div><svg")]
    assert len(pictures) == 4 and all('class="kept"' in page for page in pictures)
