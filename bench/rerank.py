"""Rerank quality and cost on TREC DL 2019 with a simulated judge.

The judge answers rerank prompts from the human judgements (grades 0-3) plus seeded
Gaussian noise, and optionally a position bias: the k-th passage shown in one prompt
loses bias * (k - 1) / (min(n, 20) - 1) grade points of n shown (so long prompts suffer
most, as with real models).
A pairwise prompt shows two passages, so the second loses the whole bias.
It measures the reranking algorithms, not a model. Each LLM call costs a fixed latency.
A simulated cross-encoder (the /v1/rerank API) grades each passage alone, with noise of
its own (`--cross-noise`) and 2 ms per passage; it runs alone and as the cut before the
LLM (`pre="cross_encoder"`, best 30 to the LLM).
Judges run in their own processes, like a real server. Candidates come from rankwise's
dense retrieval over the 5,000 passages.

    python bench/rerank.py [--top-n 20 100] [--noise 0.7] [--cross-noise 1.0] [--bias 0 1.0]
                           [--latency 0.2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _support import corpus, judge_servers, qrels, queries, trec_grade
from judges import Judge
from langchain_core.documents import Document
from rankwise.tools import Hit, KnowledgeBase, Reranker, Settings
from rankwise.tools.core.metrics import ndcg_at_k

CONCURRENCY = 8


def langchain_listwise(settings: Settings, top_k: int):
    """LangChain's LLMListwiseRerank over ChatOllama: one prompt with every passage."""
    from langchain_classic.retrievers.document_compressors import LLMListwiseRerank
    from langchain_ollama import ChatOllama

    llm = ChatOllama(model=settings.chat.name, base_url=settings.ollama_host, temperature=0,
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
                        help="position bias (grade points lost by the 20th passage shown)")
    parser.add_argument("--cross-noise", type=float, default=1.0,
                        help="the cross-encoder's noise (grade s.d.)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per LLM call")
    parser.add_argument("--queries", type=int, default=0, help="limit (0 = all judged)")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="only these rows, by name (e.g. pointwise 'cross_encoder > listwise')")
    options = parser.parse_args()

    judged = qrels()
    asked = [q for q in queries() if q["_id"] in judged]
    asked = asked[: options.queries] if options.queries else asked
    documents = [Document(page_content=row["text"], metadata={"source": row["_id"]})
                 for row in corpus()]
    grade = trec_grade(asked, judged)

    judges = [Judge(grade, noise=options.noise, position_bias=b) for b in options.bias]
    cross_encoder = Judge(grade, noise=options.cross_noise, seed=1)
    with judge_servers(judges, options.latency, cross_encoder) as urls, \
            tempfile.TemporaryDirectory() as tmp:
        settings = Settings(ollama_host=urls[0], milvus_uri=str(Path(tmp, "kb.db")),
                            chunk_size=4000, chunk_overlap=0, rerank_concurrency=CONCURRENCY,
                            rerank_model="bge-reranker")
        kb = KnowledgeBase(settings)
        kb.add_documents(documents)
        candidates = {q["_id"]: kb.search(q["text"], max(options.top_n)) for q in asked}

        print(f"rerank on trec-dl19-subset: {len(asked)} judged queries, dense candidates, "
              f"simulated judge (noise s.d. {options.noise}), {options.latency * 1000:.0f} ms "
              f"per LLM call, pointwise concurrency {CONCURRENCY}")
        print("This measures the algorithms with a simulated judge, not a model.\n")
        for bias, url in zip(options.bias, urls):
            judged_settings = settings.model_copy(update={"ollama_host": url,
                                                          "rerank_url": url})
            for top_n in options.top_n:
                run_configuration(judged_settings, asked, judged, candidates, top_n, bias,
                                  options.methods)


def run_configuration(settings, asked, judged, candidates, top_n, bias, only=None) -> None:
    methods = {
        "no rerank": None,
        # nDCG@10 reads the whole order; top_k 10 is what the tournament must keep right.
        "pointwise": Reranker(settings, strategy="pointwise", top_k=10),
        "listwise (sliding)": Reranker(settings, strategy="listwise", top_k=10),
        "tournament": Reranker(settings, strategy="tournament", top_k=10),
        "pairwise (both orders)": Reranker(settings, strategy="pairwise", top_k=10),
        "cross_encoder": Reranker(settings, strategy="cross_encoder", top_k=10),
        "cross_encoder > listwise": Reranker(settings, strategy="listwise", top_k=10,
                                             pre="cross_encoder", pre_k=30),
        "cross_encoder > pointwise": Reranker(settings, strategy="pointwise", top_k=10,
                                              pre="cross_encoder", pre_k=30),
        "langchain LLMListwiseRerank": langchain_listwise(settings, top_n),
    }
    methods = {name: method for name, method in methods.items() if not only or name in only}
    print(f"top-{top_n}, position bias {bias}:")
    print(f"  {'method':30s} {'nDCG@10':>8s} {'LLM calls':>9s} {'API calls':>9s} "
          f"{'rounds':>6s} {'s/query':>8s}")
    for name, method in methods.items():
        scores, calls, api_calls, rounds, seconds = [], [], [], [], []
        for query in asked:
            hits = candidates[query["_id"]][:top_n]
            started = time.perf_counter()
            n_api = 0
            if method is None:
                order, n_calls, n_rounds = [h.id for h in hits], 0, 0
            elif isinstance(method, Reranker):
                result = method.rerank(query["text"], hits)
                order, n_calls, n_rounds = result.order, result.llm_calls, result.round_trips
                n_api = result.rerank_api_calls
            else:
                order, n_calls, n_rounds = method(query["text"], hits)
            seconds.append(time.perf_counter() - started)
            ranked_docs = [next(h.source for h in hits if h.id == i) for i in order]
            scores.append(ndcg_at_k(ranked_docs, judged[query["_id"]], 10))
            calls.append(n_calls)
            api_calls.append(n_api)
            rounds.append(n_rounds)
        print(f"  {name:30s} {statistics.mean(scores):8.4f} {statistics.mean(calls):9.1f} "
              f"{statistics.mean(api_calls):9.1f} {statistics.mean(rounds):6.1f} "
              f"{statistics.mean(seconds):8.2f}")
    print()


if __name__ == "__main__":
    main()
