"""Shared pieces of the benchmarks: the judged data, and an Ollama-protocol server process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "trec-dl19-subset"


def require_data() -> Path:
    if not (DATA / "corpus.jsonl").exists():
        sys.exit(f"benchmark data not found at {DATA}: it lives in ../shared/data/ beside "
                 "the project checkout")
    return DATA


def corpus(limit: int | None = None) -> list[dict]:
    """MS MARCO passages of the TREC DL 2019 subset: {"_id", "title", "text"}."""
    rows = []
    with open(require_data() / "corpus.jsonl", encoding="utf-8") as lines:
        for line in lines:
            rows.append(json.loads(line))
            if limit and len(rows) >= limit:
                break
    return rows


def queries() -> list[dict]:
    with open(require_data() / "queries.jsonl", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


@contextmanager
def ollama_server(*args: str) -> Iterator[str]:
    """The tests' Ollama-protocol server in its own process (its CPU and memory apart)."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_ollama.py"), *args],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
