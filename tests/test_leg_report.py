"""The leg report where users look: doctor whatever the chat model's state, eval's table
and JSON, and the BM25 analyser named by what it does."""

from __future__ import annotations

import json

import pytest
from rankwise.cli.app import app
from rankwise.tools import KnowledgeBase, run_checks
from typer.testing import CliRunner

FACTS = [  # two sentences each: one taken out still has its chunk to find
    "Nightly backups run at two in the morning. Backups are kept for thirty days.",
    "Signing keys are rotated every ninety days. The security team rotates the keys.",
    "The cafeteria serves soup on Mondays. The cafeteria serves fish on Fridays.",
    "Visitors sign in at the front desk. Visitors wear a badge at all times.",
    "The staging cluster is rebuilt every Sunday night. The cluster starts from scratch.",
    "Expense reports are due on the fifth working day. Late expense reports wait a month.",
    "The library lends laptops for two weeks. The library needs a student card.",
    "Fire drills happen twice a year. Each fire drill is announced a week ahead.",
    "Parking permits are renewed online. Parking permits expire at the end of January.",
    "The print server queues jobs by department. The print server prints them in order.",
]


def checks_by_name(settings) -> dict[str, object]:
    return {check.name: check for check in run_checks(settings)}


@pytest.fixture
def filled(settings):
    with KnowledgeBase(settings) as kb:
        kb.add_texts(FACTS, [{"source": f"fact{n}.md"} for n in range(len(FACTS))])
    return settings


def test_doctor_probes_an_openai_compatible_embedder_while_ollama_is_down(
        filled, ollama, refused_url):
    """The chat model's Ollama being down must not hide the embedder on another server."""
    remote = filled.updated(embed_model="openai:nomic-embed-text", base_url=f"{ollama.url}/v1",
                            api_key="k", collection="remote")
    with KnowledgeBase(remote) as kb:
        kb.add_texts(FACTS, [{"source": f"fact{n}.md"} for n in range(len(FACTS))])

    checks = checks_by_name(remote.updated(ollama_host=refused_url))

    assert checks["ollama"].failed
    assert checks["embedding"].ok and checks["embedding"].detail == "256 dimensions"
    legs = checks["search legs"]
    assert legs.ok and "dense search finds" in legs.detail
    assert "(inverse cloze)" in legs.detail and "hybrid search weighs them" in legs.detail, (
        "the method and the shares")


def test_doctor_names_the_checks_it_skips_and_still_shows_the_recorded_legs(
        filled, refused_url):
    checks = checks_by_name(filled.updated(ollama_host=refused_url))

    embedding, legs = checks["embedding"], checks["search legs"]
    assert embedding.skipped and not embedding.failed
    assert "cannot be reached" in embedding.detail and refused_url in embedding.detail
    assert legs.ok and "BM25" in legs.detail, "measured at ingest: nothing to embed"

    never = filled.updated(collection="unmeasured", lexical_weight=0.3)
    with KnowledgeBase(never) as kb:  # a fixed weight: the ingest measures no legs
        kb.add_texts(FACTS)
    legs = checks_by_name(never.updated(ollama_host=refused_url, lexical_weight=None))[
        "search legs"]
    assert legs.skipped and "not measured at ingest" in legs.detail


def test_doctor_prints_skip_and_exits_1_for_the_failure_behind_it(filled, refused_url,
                                                                   monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", refused_url)
    monkeypatch.setenv("RANKWISE_MILVUS_URI", filled.milvus_uri)
    monkeypatch.setenv("RANKWISE_COLLECTION", filled.collection)

    result = CliRunner().invoke(app, ["doctor"])

    assert result.exit_code == 1
    assert "FAIL ollama" in result.output
    assert "skip embedding: skipped: Ollama at" in result.output
    assert "ok   search legs:" in result.output


def test_doctor_names_jieba_segmentation_for_a_chinese_collection(settings):
    chinese = settings.updated(collection="zh")
    with KnowledgeBase(chinese) as kb:
        kb.add_texts(["语义检索系统把问题和文档都变成向量。", "今天的午饭是牛肉面和一杯绿茶。"])

    detail = checks_by_name(chinese)["collection"].detail

    assert "Han text segmented into words by jieba" in detail
    assert "Snowball english stems" in detail, "the language governs only the other words"


@pytest.fixture
def facts_dataset(tmp_path):
    root = tmp_path / "facts"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("\n".join(
        json.dumps({"_id": f"d{n}", "text": text}) for n, text in enumerate(FACTS)))
    (root / "queries.jsonl").write_text("\n".join([
        json.dumps({"_id": "q1", "text": "when do backups run"}),
        json.dumps({"_id": "q2", "text": "how often are keys rotated"})]))
    (root / "qrels" / "test.tsv").write_text("q1\td0\t2\nq2\td1\t2\n")
    return root


def test_eval_prints_the_leg_report_and_puts_the_calibration_in_its_json(
        facts_dataset, settings, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", settings.ollama_host)
    monkeypatch.setenv("RANKWISE_MILVUS_URI", settings.milvus_uri)
    runner = CliRunner()

    table = runner.invoke(app, ["eval", str(facts_dataset), "-q"])
    as_json = runner.invoke(app, ["eval", str(facts_dataset), "--json"])  # a second run

    assert table.exit_code == 0 and "search legs: from " in table.stderr
    assert "search legs: from " in as_json.stderr, "unchanged corpus: the recorded legs"
    report = json.loads(as_json.stdout)
    calibration = report["calibration"]
    assert calibration["queries"] >= 8 and calibration["chunks"] == len(FACTS)
    assert 0 <= calibration["dense_mrr"] <= 1 and 0 <= calibration["lexical_mrr"] <= 1
    assert sum(calibration["shares"].values()) == pytest.approx(1.0)
    assert report["leg_report"].startswith(f"from {calibration['queries']} of its own")


def test_eval_says_why_when_the_dense_leg_cannot_read_the_corpus(facts_dataset, settings):
    from langchain_core.embeddings import DeterministicFakeEmbedding
    from rankwise.tools import evaluate, load_beir

    report = evaluate(load_beir(facts_dataset), settings, searches=["dense", "lexical"],
                      embeddings=DeterministicFakeEmbedding(size=64))  # vectors of noise

    assert report.calibration is not None
    assert report.calibration["dense_mrr"] < 0.5 * report.calibration["lexical_mrr"]
    assert "does not read this collection well" in (report.leg_report or "")
    assert "search legs:" in report._repr_html_()
