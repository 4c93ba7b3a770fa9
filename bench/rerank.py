"""Rerank quality and cost on TREC DL 2019 with a simulated judge.

The judge answers rerank prompts from the human judgements (grades 0-3) plus seeded
Gaussian noise, and optionally a position bias: the k-th passage shown in one prompt
loses bias * (k - 1) / 19 grade points (so long prompts suffer most, as with real models).
It measures the reranking algorithms, not a model. Each LLM call costs a fixed latency.
Judges run in their own processes, like a real server. Candidates come from rankwise's
dense retrieval over the 5,000 passages.

    python bench/rerank.py [--top-n 20 100] [--noise 0.7] [--bias 0 1.0] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _support import DATA, ROOT, corpus, queries

sys.path.insert(0, str(ROOT / "tests"))

from fake_ollama import FakeOllama  # noqa: E402
from judges import Judge  # noqa: E402
from langchain_core.documents import Document  # noqa: E402
from rankwise.tools import Hit, KnowledgeBase, Reranker, Settings  # noqa: E402
from rankwise.tools.metrics import ndcg_at_k  # noqa: E402

CONCURRENCY = 8


def qrels() -> dict[str, dict[str, float]]:
    judged: dict[str, dict[str, float]] = {}
    for line in (DATA / "qrels" / "test.tsv").read_text().splitlines():
        query_id, doc_id, grade = line.split("\t")
        judged.setdefault(query_id, {})[doc_id] = float(grade)
    return judged


def langchain_listwise(settings: Settings, top_k: int):
    """LangChain's LLMListwiseRerank over ChatOllama: one prompt with every passage."""
    from langchain_classic.retrievers.document_compressors import LLMListwiseRerank
    from langchain_ollama import ChatOllama

    llm = ChatOllama(model=settings.chat_model, base_url=settings.ollama_host, temperature=0,
                     num_ctx=32768)
    compressor = LLMListwiseRerank.from_llm(llm, top_n=top_k)

    def rerank(query: str, hits: list[Hit]) -> tuple[list[str], int, int]:
        documents = [Document(page_content=h.text, metadata={"id": h.id}) for h in hits]
        try:
            kept = compressor.compress_documents(documents, query)
        except Exception as exc:  # its parser raises on out-of-range ids
            print(f"  langchain failed on {query!r}: {type(exc).__name__}", file=sys.stderr)
            kept = documents
        ids = [d.metadata["id"] for d in kept]
        return ids + [h.id for h in hits if h.id not in ids], 1, 1

    return rerank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top-n", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--noise", type=float, default=0.7, help="judge noise (grade s.d.)")
    parser.add_argument("--bias", type=float, nargs="+", default=[0.0, 1.0],
                        help="position bias (grades gained by the first passage)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per LLM call")
    parser.add_argument("--queries", type=int, default=0, help="limit (0 = all judged)")
    options = parser.parse_args()

    judged = qrels()
    texts_to_ids: dict[str, str] = {}
    documents = []
    for row in corpus():
        texts_to_ids[row["text"][:200]] = row["_id"]
        documents.append(Document(page_content=row["text"], metadata={"source": row["_id"]}))
    asked = [q for q in queries() if q["_id"] in judged]
    asked = asked[: options.queries] if options.queries else asked

    def grade(query: str, passage: str) -> float:
        query_id = next(q["_id"] for q in asked if q["text"] == query)
        return judged[query_id].get(texts_to_ids.get(passage[:200], ""), 0.0)

    judges = [Judge(grade, noise=options.noise, position_bias=b) for b in options.bias]
    with judge_servers(judges, options.latency) as urls, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(ollama_host=urls[0], milvus_uri=str(Path(tmp, "kb.db")),
                            chunk_size=4000, chunk_overlap=0, rerank_concurrency=CONCURRENCY)
        kb = KnowledgeBase(settings)
        kb.add_documents(documents)
        candidates = {q["_id"]: kb.search(q["text"], max(options.top_n)) for q in asked}

        print(f"rerank on trec-dl19-subset: {len(asked)} judged queries, dense candidates, "
              f"simulated judge (noise s.d. {options.noise}), {options.latency * 1000:.0f} ms "
              f"per LLM call, pointwise concurrency {CONCURRENCY}")
        print("This measures the algorithms with a simulated judge, not a model.\n")
        for bias, url in zip(options.bias, urls):
            judged_settings = settings.model_copy(update={"ollama_host": url})
            for top_n in options.top_n:
                run_configuration(judged_settings, asked, judged, candidates, top_n, bias)


def _serve(connection, judge: Judge, latency: float) -> None:
    with FakeOllama(models={"nomic-embed-text": 768}) as server:
        server.chat_reply = judge
        server.chat_latency = latency
        connection.send(server.url)
        connection.recv()


@contextmanager
def judge_servers(judges: list[Judge], latency: float) -> Iterator[list[str]]:
    """One Ollama-protocol server process per judge (forked: judges need no pickling)."""
    context = multiprocessing.get_context("fork")
    pipes, processes = [], []
    for judge in judges:
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child, judge, latency), daemon=True)
        process.start()
        pipes.append(parent)
        processes.append(process)
    try:
        yield [pipe.recv() for pipe in pipes]
    finally:
        for pipe, process in zip(pipes, processes):
            pipe.send("stop")
            process.join(5)


def run_configuration(settings, asked, judged, candidates, top_n, bias) -> None:
    methods = {
        "no rerank": None,
        # nDCG@10 reads the whole order; top_k 10 is what the tournament must keep right.
        "pointwise": Reranker(settings, strategy="pointwise", top_k=10),
        "listwise (sliding)": Reranker(settings, strategy="listwise", top_k=10),
        "tournament": Reranker(settings, strategy="tournament", top_k=10),
        "langchain LLMListwiseRerank": langchain_listwise(settings, top_n),
    }
    print(f"top-{top_n}, position bias {bias}:")
    print(f"  {'method':30s} {'nDCG@10':>8s} {'calls':>6s} {'rounds':>6s} {'s/query':>8s}")
    for name, method in methods.items():
        scores, calls, rounds, seconds = [], [], [], []
        for query in asked:
            hits = candidates[query["_id"]][:top_n]
            started = time.perf_counter()
            if method is None:
                order, n_calls, n_rounds = [h.id for h in hits], 0, 0
            elif isinstance(method, Reranker):
                result = asyncio.run(method.arerank(query["text"], hits))
                order, n_calls, n_rounds = result.order, result.llm_calls, result.round_trips
            else:
                order, n_calls, n_rounds = method(query["text"], hits)
            seconds.append(time.perf_counter() - started)
            ranked_docs = [next(h.source for h in hits if h.id == i) for i in order]
            scores.append(ndcg_at_k(ranked_docs, judged[query["_id"]], 10))
            calls.append(n_calls)
            rounds.append(n_rounds)
        print(f"  {name:30s} {statistics.mean(scores):8.4f} {statistics.mean(calls):6.1f} "
              f"{statistics.mean(rounds):6.1f} {statistics.mean(seconds):8.2f}")
    print()


if __name__ == "__main__":
    main()
