"""Evaluation on judged data in BEIR layout: is reranking worth its latency here?

A dataset directory holds `corpus.jsonl` ({"_id", "title"?, "text"}), `queries.jsonl`
({"_id", "text"}) and `qrels/test.tsv` (query-id, corpus-id, grade; a header line is
optional). The corpus is ingested into its own collection (unchanged documents cost
nothing on a re-run), every judged query is searched, and each configuration is scored.
"""

from __future__ import annotations

import html
import json
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from ..core.aio import in_thread
from ..core.errors import DatasetError, RankwiseError
from ..core.metrics import mrr_at_k, ndcg_at_k, recall_at_k
from ..core.settings import Settings
from ..core.vocabulary import (
    LLM_STRATEGIES,
    SEARCH_MODES,
    STRATEGIES,
    SearchMode,
    Strategy,
    choose,
)
from .ingest import IngestProgress
from .knowledge_base import KnowledgeBase
from .rerank import Reranker


class EvaluationProgress(IngestProgress, Protocol):
    """Receives an evaluation's progress: the corpus ingest, then each configuration's
    queries (`rankwise eval` draws bars from it)."""

    def measuring(self, configuration: str, queries: int) -> None: ...

    def measured(self) -> None: ...


@dataclass
class Dataset:
    """Queries and judgements in memory; the corpus stays on disk and is streamed."""

    root: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, float]]
    corpus_ids: set[str]
    unknown_documents: int = 0
    unknown_queries: int = 0

    @property
    def judged_queries(self) -> list[str]:
        return [q for q in self.queries if q in self.qrels]

    def documents(self) -> Iterator[Document]:
        """The corpus as Documents whose source is the corpus id."""
        for row, _ in _jsonl(self.root / "corpus.jsonl"):
            title = row.get("title") or ""
            text = f"{title}\n\n{row['text']}" if title else row["text"]
            yield Document(page_content=text, metadata={"source": str(row["_id"])})


def _jsonl(path: Path) -> Iterator[tuple[dict[str, Any], int]]:
    if not path.exists():
        raise DatasetError(f"{path} is missing: a BEIR dataset has corpus.jsonl, "
                           "queries.jsonl and qrels/test.tsv")
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict) or "_id" not in row or "text" not in row:
                raise DatasetError(f'{path}:{number}: a row needs "_id" and "text"')
            yield row, number


def load_beir(root: str | Path) -> Dataset:
    """Read a BEIR-layout dataset; qrels naming unknown queries or documents are counted."""
    root = Path(root)
    queries = {str(row["_id"]): str(row["text"]) for row, _ in _jsonl(root / "queries.jsonl")}
    corpus_ids = {str(row["_id"]) for row, _ in _jsonl(root / "corpus.jsonl")}
    qrels_path = root / "qrels" / "test.tsv"
    if not qrels_path.exists():
        raise DatasetError(f"{qrels_path} is missing")
    qrels: dict[str, dict[str, float]] = {}
    unknown_documents = unknown_queries = 0
    for number, line in enumerate(qrels_path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.strip().split("\t") if "\t" in line else line.split()
        if not fields:
            continue
        if len(fields) < 3:
            raise DatasetError(f"{qrels_path}:{number}: expected query-id, corpus-id, grade")
        query_id, doc_id, raw_grade = fields[0], fields[1], fields[-1]
        try:
            grade = float(raw_grade)
        except ValueError:
            if number == 1:
                continue  # a header line
            raise DatasetError(f"{qrels_path}:{number}: grade {raw_grade!r} is not a number") \
                from None
        if query_id not in queries:
            unknown_queries += 1
        elif doc_id not in corpus_ids:
            unknown_documents += 1
        else:
            qrels.setdefault(query_id, {})[doc_id] = grade
    return Dataset(root, queries, qrels, corpus_ids, unknown_documents, unknown_queries)


@dataclass
class ConfigurationResult:
    """Quality and cost of one configuration, averaged over the judged queries."""

    name: str
    ndcg_at_10: float
    recall_at_k: float
    mrr_at_10: float
    llm_calls: float
    round_trips: float
    tokens: float
    seconds: float
    k: int
    retrieval_ndcg_at_10: float | None = None
    """A rerank row's: nDCG@10 of the same candidates in retrieval order."""
    unreadable_replies: float = 0.0
    """A rerank row's: the share of its LLM calls whose reply held no grade or label."""
    fallbacks: float = 0.0
    """A rerank row's: the share of queries whose rerank fell back to an earlier order."""

    def as_dict(self) -> dict[str, Any]:
        return {"configuration": self.name, "ndcg@10": self.ndcg_at_10,
                f"recall@{self.k}": self.recall_at_k, "mrr@10": self.mrr_at_10,
                "llm_calls_per_query": self.llm_calls,
                "round_trips_per_query": self.round_trips, "tokens_per_query": self.tokens,
                "seconds_per_query": self.seconds,
                "retrieval_ndcg@10": self.retrieval_ndcg_at_10,
                "unreadable_replies": self.unreadable_replies, "fallbacks": self.fallbacks}

    def warnings(self) -> list[str]:
        """What a user must know before trusting this configuration: a rerank that ranks
        worse than retrieval did, replies the parser could not read, reranks that fell back."""
        found = []
        if (self.retrieval_ndcg_at_10 is not None
                and self.ndcg_at_10 < self.retrieval_ndcg_at_10 - WORSE_MARGIN):
            found.append(f"{self.name} ranks worse than retrieval alone (nDCG@10 "
                         f"{self.ndcg_at_10:.4f} against {self.retrieval_ndcg_at_10:.4f}): "
                         "this model's reranking costs quality here; try another strategy "
                         "or a larger chat model")
        if self.unreadable_replies > UNREADABLE_LIMIT:
            found.append(f"{self.name}: {self.unreadable_replies:.0%} of the model's replies "
                         "held no usable grade or label (those passages kept their earlier "
                         "place); a larger chat model, or other prompts (RerankPrompts)")
        if self.fallbacks:
            found.append(f"{self.name}: {self.fallbacks:.0%} of the reranks fell back to an "
                         "earlier order because the model failed")
        return found


@dataclass
class EvaluationReport:
    dataset: str
    queries: int
    unknown_documents: int
    unknown_queries: int
    results: list[ConfigurationResult] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    """Configurations that could not be measured, with the reason; the others still are."""
    ingest_seconds: float = 0.0
    seconds: float = 0.0
    calibration: dict[str, Any] | None = None
    """How each search leg reads the corpus's collection (its calibration and fusion
    shares); None without a BM25 leg or with too little text."""
    leg_report: str | None = None
    """The same in one line, with the fix when a leg reads the corpus badly."""

    def as_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "queries": self.queries,
                "unknown_documents_in_qrels": self.unknown_documents,
                "unknown_queries_in_qrels": self.unknown_queries,
                "ingest_seconds": self.ingest_seconds, "seconds": self.seconds,
                "calibration": self.calibration, "leg_report": self.leg_report,
                "results": [r.as_dict() for r in self.results], "failures": self.failures}

    def _repr_html_(self) -> str:
        """The configurations side by side, as a notebook table."""
        head = ("<tr><th>configuration</th><th>nDCG@10</th><th>Recall@k</th><th>MRR@10</th>"
                "<th>LLM calls</th><th>round trips</th><th>tokens</th><th>s/query</th></tr>")
        rows = "".join(
            f"<tr><td>{html.escape(r.name)}</td><td>{r.ndcg_at_10:.4f}</td>"
            f"<td>{r.recall_at_k:.4f}</td><td>{r.mrr_at_10:.4f}</td><td>{r.llm_calls:.1f}</td>"
            f"<td>{r.round_trips:.1f}</td><td>{r.tokens:.0f}</td><td>{r.seconds:.3f}</td></tr>"
            for r in self.results)
        failed = "".join(f"<li>{html.escape(name)}: {html.escape(why)}</li>"
                         for name, why in self.failures.items())
        legs = f"<p>search legs: {html.escape(self.leg_report)}</p>" if self.leg_report else ""
        return (f'<table class="rw"><caption>{html.escape(self.dataset)}: {self.queries} '
                f"judged queries</caption>{head}{rows}</table>{legs}"
                + (f"<ul>{failed}</ul>" if failed else ""))


WORSE_MARGIN = 0.005
UNREADABLE_LIMIT = 0.05


def _unique_sources(sources: Sequence[str]) -> list[str]:
    """Documents in the order of their best chunk."""
    return list(dict.fromkeys(sources))


def evaluate(
    dataset: Dataset,
    settings: Settings | None = None,
    *,
    searches: Sequence[SearchMode] = ("dense",),
    reranks: Sequence[Strategy] = ("none",),
    top_n: int = 20,
    k: int = 10,
    collection: str | None = None,
    embeddings: Embeddings | None = None,
    chat_model: BaseChatModel | None = None,
    progress: EvaluationProgress | None = None,
) -> EvaluationReport:
    """Score every (search mode, rerank strategy) pair on the dataset's judged queries.

    Models come from `settings`, or are the LangChain `embeddings` / `chat_model` given;
    `progress` hears of the ingest and of every query measured.
    """
    for search in searches:
        choose(search, SEARCH_MODES, "search mode")
    for strategy in reranks:
        choose(strategy, STRATEGIES, "rerank strategy")
    if not dataset.judged_queries:
        raise DatasetError(f"{dataset.root}: no query has judgements in qrels/test.tsv")
    settings = settings or Settings()
    safe_name = "".join(c if c.isalnum() else "_" for c in dataset.root.name)
    with KnowledgeBase(settings, embeddings=embeddings,
                       collection=collection or f"eval_{safe_name}") as kb:
        started = time.perf_counter()
        if progress is not None:
            progress.start(len(dataset.corpus_ids))
        kb.add_documents(dataset.documents(), progress)
        report = EvaluationReport(dataset.root.name, len(dataset.judged_queries),
                                  dataset.unknown_documents, dataset.unknown_queries,
                                  ingest_seconds=time.perf_counter() - started)
        _report_legs(kb, report)
        depth = max(top_n, k)
        for search in searches:
            for strategy in reranks:
                try:  # one configuration failing (a model down, no BM25) costs only its row
                    reranker = None if strategy == "none" else Reranker(
                        kb.settings, strategy=strategy, top_k=max(k, 10), chat_model=chat_model)
                    report.results.append(_run(kb, dataset, search, reranker, depth, k,
                                               progress))
                except RankwiseError as exc:
                    pre = kb.settings.rerank_pre if strategy in LLM_STRATEGIES else None
                    report.failures[_name(search, strategy, pre)] = str(exc)
        report.seconds = time.perf_counter() - started
    return report


aevaluate = in_thread(evaluate)


def _report_legs(kb: KnowledgeBase, report: EvaluationReport) -> None:
    """The collection's leg report and calibration, measured now if the ingest did not."""
    try:
        calibration = kb.measured_legs()
    except RankwiseError as exc:  # advice: the configurations can still be measured
        report.leg_report = f"the search legs could not be measured: {exc}"
        return
    if calibration is not None:
        report.calibration = {**calibration.as_dict(), "shares": kb.fusion_shares()}
        report.leg_report = kb.leg_report()


def _name(search: SearchMode, strategy: Strategy, pre: str | None = None) -> str:
    """The row's name: `dense`, `dense+listwise`, or `dense+cross_encoder>listwise`."""
    return search if strategy == "none" else f"{search}+{pre + '>' if pre else ''}{strategy}"


def _run(kb: KnowledgeBase, dataset: Dataset, search: SearchMode, reranker: Reranker | None,
         depth: int, k: int, progress: EvaluationProgress | None) -> ConfigurationResult:
    ndcg, recall, mrr, calls, rounds, tokens, seconds = [], [], [], [], [], [], []
    before, unreadable, fallbacks = [], 0, 0
    name = search if reranker is None else _name(search, reranker.strategy, reranker.pre)
    if progress is not None:
        progress.measuring(name, len(dataset.judged_queries))
    for query_id in dataset.judged_queries:
        started = time.perf_counter()
        hits = kb.search(dataset.queries[query_id], depth, mode=search)
        order, used_calls, used_rounds, used_tokens = [h.source for h in hits], 0, 0, 0
        grades = dataset.qrels[query_id]
        if reranker is not None:
            before.append(ndcg_at_k(_unique_sources(order), grades, 10))
            result = reranker.rerank(dataset.queries[query_id], hits)
            by_id = {h.id: h.source for h in hits}
            order = [by_id[i] for i in result.order]
            used_calls, used_rounds = result.llm_calls, result.round_trips
            used_tokens = result.prompt_tokens + result.completion_tokens
            unreadable += result.unreadable_replies
            fallbacks += not result.reranked
        seconds.append(time.perf_counter() - started)
        ranking = _unique_sources(order)
        ndcg.append(ndcg_at_k(ranking, grades, 10))
        recall.append(recall_at_k(ranking, grades, k))
        mrr.append(mrr_at_k(ranking, grades, 10))
        calls.append(used_calls)
        rounds.append(used_rounds)
        tokens.append(used_tokens)
        if progress is not None:
            progress.measured()
    mean = statistics.fmean
    return ConfigurationResult(
        name, mean(ndcg), mean(recall), mean(mrr), mean(calls), mean(rounds), mean(tokens),
        mean(seconds), k, retrieval_ndcg_at_10=mean(before) if before else None,
        unreadable_replies=unreadable / max(sum(calls), 1),
        fallbacks=fallbacks / len(ndcg) if before else 0.0)
