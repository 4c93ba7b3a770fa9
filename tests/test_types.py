"""Types users can see: rankwise type-checks clean under mypy (with the pydantic plugin),
and a user's script that passes a wrong argument type is told so."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow  # real processes

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
    """mypy as a contributor runs it: from outside the checkout, on the package as it is
    installed (the README's editable install links the sources where mypy looks)."""
    (tmp_path / "user.py").write_text(USER_SCRIPT)
    mypy = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
            "--cache-dir", str(tmp_path / "cache")]

    own = subprocess.run([*mypy, "-p", "rankwise"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert "Can't find package" not in own.stdout, (
        "mypy cannot see the installed rankwise: install it with "
        "`pip install -e \".[dev]\" --config-settings editable_mode=strict`")
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
