"""Types users can see: rankwise type-checks clean under mypy (with the pydantic plugin),
and a user's script that passes a wrong argument type is told so."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

USER_SCRIPT = '''
from rankwise.graphs import ask, build_graph
from rankwise.tools import KnowledgeBase, Reranker

kb = KnowledgeBase()
hits = kb.search("how do I rotate keys?", k="five")
Reranker(strategy="listwise").rerank("q", hits, top_k=2.5)
answer = ask("q", build_graph(kb))
answer.text.upper()
answer.citations.upper()
'''


def test_rankwise_is_type_clean_and_users_see_its_types(tmp_path):
    package = tmp_path / "rankwise"  # the installed layout: rankwise.tools is tools/, ...
    package.mkdir()
    for name in ("tools", "graphs", "agents", "cli"):
        (package / name).symlink_to(ROOT / name)
    for name in ("__init__.py", "py.typed"):
        (package / name).symlink_to(ROOT / "rankwise" / name)
    (tmp_path / "user.py").write_text(USER_SCRIPT)
    mypy = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
            "--cache-dir", str(tmp_path / "cache")]

    own = subprocess.run([*mypy, "-p", "rankwise"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert own.returncode == 0, own.stdout

    user = subprocess.run([*mypy, "user.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    errors = [line.split(": error: ")[1] for line in user.stdout.splitlines()
              if ": error: " in line]
    assert errors == [
        'Argument "k" to "search" of "KnowledgeBase" has incompatible type "str"; '
        'expected "int"  [arg-type]',
        'Argument "top_k" to "rerank" of "Reranker" has incompatible type "float"; '
        'expected "int | None"  [arg-type]',
        '"list[dict[str, Any]]" has no attribute "upper"  [attr-defined]',
    ]
