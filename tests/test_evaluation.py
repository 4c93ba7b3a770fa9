"""`rankwise eval`: BEIR datasets, metrics per configuration, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from judges import Judge
from rankwise.cli.app import app
from rankwise.tools import DatasetError, evaluate, load_beir
from test_cli import rankwise
from typer.testing import CliRunner

CORPUS = {
    "d1": "Nightly backups are kept for thirty days.",
    "d2": "Backups run at two in the morning every night.",
    "d3": "Signing keys rotate every ninety days.",
    "d4": "Old keys stay valid for a week after rotation.",
    "d5": "The cafeteria serves soup on Mondays.",
    "d6": "Fish is served on Fridays in the cafeteria.",
}
QUERIES = {"q1": "how long are backups kept", "q2": "when do keys rotate",
           "q3": "what food is served", "q4": "a query nobody judged"}
QRELS = [("q1", "d1", 3), ("q1", "d2", 1), ("q2", "d3", 3), ("q2", "d4", 2),
         ("q3", "d6", 2), ("q3", "d5", 2), ("q3", "d404", 1), ("q9", "d1", 1)]


def write_dataset(root: Path, header: bool = True) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("\n".join(
        json.dumps({"_id": i, "title": "", "text": t}) for i, t in CORPUS.items()))
    (root / "queries.jsonl").write_text("\n".join(
        json.dumps({"_id": i, "text": t}) for i, t in QUERIES.items()))
    lines = (["query-id\tcorpus-id\tscore"] if header else []) + [
        f"{q}\t{d}\t{g}" for q, d, g in QRELS]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def dataset_dir(tmp_path) -> Path:
    return write_dataset(tmp_path / "tiny")


@pytest.fixture
def perfect_judge(ollama):
    grades = {(QUERIES[q], CORPUS[d]): g for q, d, g in QRELS if d in CORPUS and q in QUERIES}
    ollama.chat_reply = Judge(lambda query, passage: grades.get((query, passage), 0.0))


@pytest.mark.parametrize("header", [True, False])
def test_load_beir_counts_qrels_naming_unknown_documents_or_queries(tmp_path, header):
    dataset = load_beir(write_dataset(tmp_path / "d", header=header))

    assert dataset.judged_queries == ["q1", "q2", "q3"]
    assert dataset.qrels["q3"] == {"d6": 2.0, "d5": 2.0}
    assert (dataset.unknown_documents, dataset.unknown_queries) == (1, 1)


def test_reranking_with_a_perfect_judge_reaches_ideal_ndcg(settings, dataset_dir, perfect_judge):
    report = evaluate(load_beir(dataset_dir), settings, reranks=["none", "pointwise"], top_n=6)

    dense, pointwise = report.results
    assert (dense.name, pointwise.name) == ("dense", "dense+pointwise")
    assert pointwise.ndcg_at_10 == pytest.approx(1.0)
    assert pointwise.mrr_at_10 == pytest.approx(1.0) and pointwise.recall_at_k == 1.0
    assert dense.ndcg_at_10 <= pointwise.ndcg_at_10
    assert dense.llm_calls == 0 and pointwise.llm_calls == 6 and pointwise.tokens > 0
    assert dense.round_trips == 0 and pointwise.round_trips >= 1
    assert report.queries == 3 and report.unknown_documents == 1


def test_a_perfect_rerank_model_alone_and_before_the_llm(settings, dataset_dir, ollama,
                                                          perfect_judge):
    grades = {(QUERIES[q], CORPUS[d]): g for q, d, g in QRELS if d in CORPUS and q in QUERIES}
    ollama.rerank_score = lambda query, text: grades.get((query, text), 0.0)
    with_model = settings.updated(rerank_url=ollama.url, rerank_model="bge-reranker",
                                  rerank_pre="cross_encoder", rerank_pre_k=3)

    report = evaluate(load_beir(dataset_dir), with_model, reranks=["cross_encoder", "listwise"],
                      top_n=6)

    alone, both = report.results
    assert (alone.name, both.name) == ("dense+cross_encoder", "dense+cross_encoder>listwise")
    assert alone.ndcg_at_10 == pytest.approx(1.0) and both.ndcg_at_10 == pytest.approx(1.0)
    assert alone.llm_calls == 0 and both.llm_calls == 1, "one LLM window of 3 per query"
    assert (alone.round_trips, both.round_trips) == (1, 2)


def test_a_second_run_reuses_the_collection(settings, dataset_dir, ollama):
    evaluate(load_beir(dataset_dir), settings, searches=["dense", "hybrid"])
    ollama.requests.clear()

    evaluate(load_beir(dataset_dir), settings, searches=["dense", "hybrid"])

    embedded = [t for p, b in ollama.requests if p == "/api/embed" for t in b["input"]]
    queries = [f"search_query: {QUERIES[q]}" for q in ("q1", "q2", "q3")]
    assert sorted(embedded) == sorted(queries * 2), "only the queries, with nomic's prompt"


def test_malformed_lines_name_their_file_and_line(tmp_path):
    root = write_dataset(tmp_path / "bad")
    lines = (root / "corpus.jsonl").read_text().splitlines()
    lines[2] = '{"_id": "d3", "text": unquoted}'
    (root / "corpus.jsonl").write_text("\n".join(lines))
    with pytest.raises(DatasetError, match=r"corpus\.jsonl:3: not valid JSON"):
        load_beir(root)

    root = write_dataset(tmp_path / "bad2")
    with (root / "qrels" / "test.tsv").open("a") as qrels:
        qrels.write("q1\td1\thigh\n")
    with pytest.raises(DatasetError, match=r"test\.tsv:10: grade 'high' is not a number"):
        load_beir(root)

    with pytest.raises(DatasetError, match="queries.jsonl is missing"):
        load_beir(tmp_path / "nothing")


def test_cli_eval_prints_a_table_and_json(dataset_dir, ollama, perfect_judge, tmp_path):
    import os

    env = {**os.environ, "OLLAMA_HOST": ollama.url,
           "RANKWISE_MILVUS_URI": str(tmp_path / "eval.db")}
    table = rankwise("eval", str(dataset_dir), "--rerank", "none", "--rerank", "tournament",
                     env=env)
    assert table.returncode == 0, table.stderr
    assert "nDCG@10" in table.stdout and "dense+tournament" in table.stdout
    assert "unknown documents: 1" in table.stdout

    as_json = json.loads(rankwise("eval", str(dataset_dir), "--search", "hybrid", "--json",
                                  env=env).stdout)
    assert [r["configuration"] for r in as_json["results"]] == ["hybrid"]
    assert as_json["queries"] == 3

    bad = rankwise("eval", str(dataset_dir), "--rerank", "magic", env=env)
    assert bad.returncode == 2 and "magic" in bad.stderr


async def test_evaluate_works_inside_a_running_event_loop(settings, dataset_dir, perfect_judge):
    """A notebook cell runs inside an event loop; evaluate() must still rerank."""
    report = evaluate(load_beir(dataset_dir), settings, reranks=["pointwise"], top_n=6)
    assert report.results[0].ndcg_at_10 == pytest.approx(1.0)


def test_a_configuration_that_fails_keeps_the_rows_measured(dataset_dir, settings, ollama,
                                                              monkeypatch):
    ollama.chat_models = set()  # the chat model is not pulled: every rerank fails

    report = evaluate(load_beir(dataset_dir), settings, reranks=["none", "listwise"])

    assert [r.name for r in report.results] == ["dense"]
    assert "ollama pull llama3.2" in report.failures["dense+listwise"]
    monkeypatch.setenv("OLLAMA_HOST", settings.ollama_host)
    monkeypatch.setenv("RANKWISE_MILVUS_URI", settings.milvus_uri)
    result = CliRunner().invoke(app, ["eval", str(dataset_dir), "--rerank", "none",
                                      "--rerank", "listwise", "--search", "dense"])
    assert result.exit_code == 1 and "dense+listwise could not be measured" in result.output
    assert "│ dense " in result.output


def test_eval_measures_only_the_searches_asked_for_and_shows_progress(dataset_dir, settings,
                                                                      monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", settings.ollama_host)
    monkeypatch.setenv("RANKWISE_MILVUS_URI", settings.milvus_uri)
    runner = CliRunner()

    asked = runner.invoke(app, ["eval", str(dataset_dir), "--search", "lexical"])
    defaulted = runner.invoke(app, ["eval", str(dataset_dir)])

    assert asked.exit_code == 0 and "│ lexical " in asked.output
    assert "│ dense " not in asked.output and "the default" not in asked.output
    assert "searching dense and hybrid (the default; --search picks)" in defaulted.output
    assert "│ dense " in defaulted.output and "│ hybrid " in defaulted.output
    assert "lexical" in asked.output.split("│ lexical")[0], "a progress bar named it"


def test_eval_warns_when_a_rerank_ranks_worse_than_retrieval_or_its_replies_cannot_be_read(
        dataset_dir, ollama, tmp_path, monkeypatch):
    grades = {(QUERIES[q], CORPUS[d]): g for q, d, g in QRELS if d in CORPUS and q in QUERIES}
    inverted = Judge(lambda query, passage: 3 - grades.get((query, passage), 0.0))
    graded = 0

    def sometimes_unreadable(body: dict) -> str | dict:
        nonlocal graded
        graded += 1
        return "I would rather not say." if graded % 3 == 0 else inverted(body)

    ollama.chat_reply = sometimes_unreadable
    monkeypatch.setenv("OLLAMA_HOST", ollama.url)
    monkeypatch.setenv("RANKWISE_MILVUS_URI", str(tmp_path / "eval.db"))

    result = CliRunner().invoke(app, ["eval", str(dataset_dir), "--search", "dense",
                                      "--rerank", "pointwise", "-q"])

    assert result.exit_code == 0, result.output
    assert "unreadable" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert any("dense+pointwise ranks worse than retrieval alone" in w for w in warnings)
    assert any("33% of the model's replies held no usable grade" in w for w in warnings)
