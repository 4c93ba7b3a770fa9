"""Start-up cost: `rankwise --help` and importing rankwise.graphs, against `python -c pass`
and `import langgraph.graph`, in the same run (median of several fresh processes).

    python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

PYTHON = sys.executable


def median_seconds(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


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
    anchor = seconds["import langgraph.graph"]
    print(f"start-up, median of {runs} fresh processes")
    for name, value in seconds.items():
        print(f"  {name:42s} {value:6.3f} s   {value / anchor:5.2f} x langgraph.graph")
    print("  goals: rankwise --help < 1 s; rankwise.graphs <= 1.5 x langgraph.graph")


if __name__ == "__main__":
    main()
