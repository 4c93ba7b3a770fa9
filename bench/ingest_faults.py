"""Ingest against servers that are slow, flaky or fast, each computing one request at a
time (as Ollama on one GPU or CPU), with rankwise's default settings.

- slow: 3 texts/s. Goal: the ingest completes and embeds every chunk exactly once.
- flaky: 40% of requests fail (503), 5,000 files. Goal: completes on its first run.
- GPU-class: 20 ms per request + 2 ms per text, the 5,000 trec-dl19 passages. Goal: wall
  time at most 1.05x the server's own busy time (what it spent computing).

    python bench/ingest_faults.py [--slow-texts 300] [--flaky-runs 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx
from _support import corpus, ollama_server
from langchain_core.documents import Document
from rankwise.tools import KnowledgeBase, RankwiseError, Settings


def stats(url: str) -> dict:
    return httpx.get(f"{url}/api/stats").json()


def slow(texts: int) -> None:
    rows = corpus(texts)
    with ollama_server("--per-item", str(1 / 3), "--parallel", "1") as url, \
            tempfile.TemporaryDirectory() as tmp:
        kb = KnowledgeBase(Settings(ollama_host=url, milvus_uri=str(Path(tmp, "kb.db")),
                                    chunk_size=4000, chunk_overlap=0))
        started = time.perf_counter()
        try:
            report = kb.add_documents(Document(page_content=r["text"],
                                               metadata={"source": r["_id"]}) for r in rows)
            outcome = f"completed, {report.added} chunks stored"
        except RankwiseError as exc:
            outcome = f"FAILED: {exc}"
        wall = time.perf_counter() - started
        served = stats(url)
    stored = kb.count() if outcome.startswith("completed") else 0
    print(f"slow server (3 texts/s, one request at a time), {len(rows)} passages: {outcome}")
    print(f"  texts embedded {served['texts']} for {stored} stored: "
          f"{served['texts'] - stored} wasted; {served['requests']} requests; wall "
          f"{wall:.1f} s = {wall / served['busy_seconds']:.3f} x the server's busy time")


def flaky(files: int, runs: int) -> None:
    completed = 0
    for run in range(runs):
        with ollama_server("--fail-rate", "0.4", "--parallel", "1", "--seed", str(run)) as url, \
                tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp, "docs")
            folder.mkdir()
            for n, row in enumerate(corpus(files)):
                (folder / f"{n:05d}.txt").write_text(row["text"])
            kb = KnowledgeBase(Settings(ollama_host=url, milvus_uri=str(Path(tmp, "kb.db"))))
            started = time.perf_counter()
            try:
                report = kb.ingest([folder])
                ok = report.sources == files and kb.count() == report.added
            except RankwiseError as exc:
                ok, report = False, exc
            served = stats(url)
            completed += ok
            print(f"  run {run + 1}: {'completed' if ok else f'FAILED ({report})'} in "
                  f"{time.perf_counter() - started:.1f} s, {served['requests']} requests")
    print(f"flaky server (40% of requests fail), {files} files: completed on the first run "
          f"{completed} of {runs} times")


def gpu() -> None:
    rows = corpus()
    with ollama_server("--latency", "0.02", "--per-item", "0.002", "--parallel", "1") as url, \
            tempfile.TemporaryDirectory() as tmp:
        kb = KnowledgeBase(Settings(ollama_host=url, milvus_uri=str(Path(tmp, "kb.db"))))
        started = time.perf_counter()
        report = kb.add_documents(Document(page_content=r["text"],
                                           metadata={"source": r["_id"]}) for r in rows)
        wall = time.perf_counter() - started
        served = stats(url)
    print(f"GPU-class server (20 ms/request + 2 ms/text, one at a time), {len(rows)} "
          f"passages, {report.added} chunks, {served['requests']} requests:")
    print(f"  server busy {served['busy_seconds']:.2f} s, rankwise wall {wall:.2f} s = "
          f"{wall / served['busy_seconds']:.3f} x the server's busy time (goal <= 1.05)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slow-texts", type=int, default=300)
    parser.add_argument("--flaky-files", type=int, default=5000)
    parser.add_argument("--flaky-runs", type=int, default=3)
    parser.add_argument("--only", choices=["slow", "flaky", "gpu"])
    options = parser.parse_args()
    if options.only in (None, "gpu"):
        gpu()
    if options.only in (None, "flaky"):
        flaky(options.flaky_files, options.flaky_runs)
    if options.only in (None, "slow"):
        slow(options.slow_texts)


if __name__ == "__main__":
    main()
