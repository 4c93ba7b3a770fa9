"""The whole `rankwise eval` on trec-dl19-subset, with the simulated judge.

Dense and hybrid retrieval, each without rerank and with every rerank strategy, over the
43 judged queries; prints the table and how long the evaluation took, and with `--plot`
draws quality against latency (needs matplotlib).

    python bench/evaluate.py [--top-n 20] [--latency 0.2] [--plot docs/eval.png]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from _support import judge_servers, qrels, queries, require_data, trec_grade
from judges import Judge
from rankwise.tools import EvaluationReport, Settings, evaluate, load_beir
from rankwise.tools.core.vocabulary import STRATEGIES


def plot(report: EvaluationReport, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.5, 4.5))
    # Configurations that land on the same spot (listwise and tournament often do) share
    # one label; latency on a log scale, as pairwise costs tens of times the others.
    spots: dict[tuple[int, int], list] = {}
    for row in report.results:
        key = (round(math.log10(max(row.seconds, 1e-4)) * 10), round(row.ndcg_at_10 * 200))
        spots.setdefault(key, []).append(row)
    for index, rows in enumerate(spots.values()):
        x, y = rows[0].seconds * 1000, rows[0].ndcg_at_10
        axes.scatter(x, y, s=40)
        axes.annotate(" = ".join(r.name for r in rows), (x, y), textcoords="offset points",
                      xytext=(6, 6 if index % 2 else -12), fontsize=8)
    axes.set_xscale("log")
    axes.set_xlabel("latency per query (ms)")
    axes.set_ylabel("nDCG@10")
    axes.set_title(f"{report.dataset}: quality against latency (simulated judge)")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top-n", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per LLM call")
    parser.add_argument("--noise", type=float, default=0.7)
    parser.add_argument("--bias", type=float, default=1.0)
    parser.add_argument("--plot", help="write a PNG of nDCG@10 against latency here")
    options = parser.parse_args()

    judged = qrels()
    grade = trec_grade([q for q in queries() if q["_id"] in judged], judged)
    judge = Judge(grade, noise=options.noise, position_bias=options.bias)
    with judge_servers([judge], options.latency) as (url,), tempfile.TemporaryDirectory() as tmp:
        settings = Settings(ollama_host=url, milvus_uri=str(Path(tmp, "eval.db")),
                            chunk_size=4000, chunk_overlap=0, rerank_concurrency=8)
        started = time.perf_counter()
        report = evaluate(load_beir(require_data()), settings, searches=["dense", "hybrid"],
                          reranks=["none", *(s for s in STRATEGIES if s != "none")],
                          top_n=options.top_n)
        elapsed = time.perf_counter() - started

    print(f"rankwise eval on {report.dataset}: {report.queries} judged queries, "
          f"top-{options.top_n}, simulated judge (noise {options.noise}, position bias "
          f"{options.bias}), {options.latency * 1000:.0f} ms per LLM call")
    print(f"  {'configuration':22s} {'nDCG@10':>8s} {'R@10':>7s} {'MRR@10':>7s} "
          f"{'calls/q':>8s} {'rounds/q':>9s} {'tokens/q':>9s} {'s/query':>8s}")
    for row in report.results:
        print(f"  {row.name:22s} {row.ndcg_at_10:8.4f} {row.recall_at_k:7.4f} "
              f"{row.mrr_at_10:7.4f} {row.llm_calls:8.1f} {row.round_trips:9.1f} "
              f"{row.tokens:9.0f} "
              f"{row.seconds:8.3f}")
    print(f"  ingest {report.ingest_seconds:.1f} s; whole evaluation {elapsed:.1f} s; "
          f"qrels naming unknown documents {report.unknown_documents}, "
          f"unknown queries {report.unknown_queries}")
    if options.plot:
        plot(report, options.plot)
        print(f"  plot written to {options.plot}")


if __name__ == "__main__":
    main()
