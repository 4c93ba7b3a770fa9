"""Start-up cost: `rankwise --help`, importing rankwise.graphs, and a one-shot
`rankwise search` of a Milvus Lite file of 1,000 chunks (the tests' Ollama-protocol server
embedding the query), against `python -c pass` and `import langgraph.graph`, in the same
run (median of several fresh processes).

    python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = sys.executable


def median_seconds(command: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def search_seconds(cli: str, runs: int) -> dict[str, float]:
    """A one-shot `rankwise search`, and the same process's work without the search."""
    from _support import corpus, ollama_server
    from rankwise.tools import KnowledgeBase, Settings

    with ollama_server() as url, tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp, "kb.db"))
        kb = KnowledgeBase(Settings(ollama_host=url, milvus_uri=path))
        kb.add_texts([row["text"] for row in corpus(1000)])
        kb.close()
        env = {**os.environ, "OLLAMA_HOST": url, "RANKWISE_MILVUS_URI": path}
        return {
            "import rankwise.tools, open the store": median_seconds(
                [PYTHON, "-c", "from rankwise.tools import KnowledgeBase; "
                 "KnowledgeBase().count()"], runs, env),
            "rankwise search (1,000 chunks)": median_seconds(
                [cli, "search", "what is a plant cell", "-k", "5"], runs, env),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    cli = shutil.which("rankwise", path=str(Path(PYTHON).parent)) or sys.exit(
        "install the project first: pip install -e .")
    cases = {
        "python -c pass": [PYTHON, "-c", "pass"],
        "import langgraph.graph": [PYTHON, "-c", "import langgraph.graph"],
        "import rankwise.graphs": [PYTHON, "-c", "import rankwise.graphs"],
        "from rankwise.graphs import build_graph":
            [PYTHON, "-c", "from rankwise.graphs import build_graph"],
        "rankwise --help": [cli, "--help"],
    }
    seconds = {name: median_seconds(command, runs) for name, command in cases.items()}
    seconds.update(search_seconds(cli, runs))
    anchor = seconds["import langgraph.graph"]
    print(f"start-up, median of {runs} fresh processes")
    for name, value in seconds.items():
        print(f"  {name:42s} {value:6.3f} s   {value / anchor:5.2f} x langgraph.graph")
    print("  goals: rankwise --help < 1 s; rankwise.graphs <= 1.5 x langgraph.graph; "
          "rankwise search <= 1.2 s")


if __name__ == "__main__":
    main()
