"""The layers import one way only: core < adapters < services < agent_tools < applications
(graphs, agents, cli), and applications use the public `rankwise.tools` API, `core`
and `agent_tools`, never adapters or services directly. Every import in every module is
read, deferred ones inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGES = {"tools": "rankwise.tools", "graphs": "rankwise.graphs",
            "agents": "rankwise.agents", "cli": "rankwise.cli", "src/rankwise": "rankwise"}
APPLICATION_MAY_USE = ("rankwise.tools.core", "rankwise.tools.agent_tools")
MAY_IMPORT = {
    "rankwise.tools.core": ("rankwise.tools.core",),
    "rankwise.tools.adapters": ("rankwise.tools.core", "rankwise.tools.adapters"),
    "rankwise.tools.services": ("rankwise.tools.core", "rankwise.tools.adapters",
                                "rankwise.tools.services"),
    "rankwise.tools.agent_tools": ("rankwise.tools.core", "rankwise.tools.services",
                                   "rankwise.tools.agent_tools"),
    "rankwise.graphs": ("rankwise.graphs", *APPLICATION_MAY_USE),
    "rankwise.agents": ("rankwise.agents", "rankwise.graphs", *APPLICATION_MAY_USE),
    "rankwise.cli": ("rankwise.cli", "rankwise.graphs", "rankwise.agents",
                     *APPLICATION_MAY_USE),
}
FACADES = ("rankwise", "rankwise.tools")  # the public names, for applications


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join([package, *parts]).removesuffix(".__init__")
            found[name] = path
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """Every rankwise module `path` imports, absolute."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
    return {m for m in found if m == "rankwise" or m.startswith("rankwise.")}


def layer(name: str) -> str | None:
    return next((prefix for prefix in sorted(MAY_IMPORT, key=len, reverse=True)
                 if name == prefix or name.startswith(prefix + ".")), None)


def test_every_import_follows_the_layer_order():
    broken = []
    for name, path in modules().items():
        own = layer(name)
        if own is None:  # the facades themselves
            continue
        allowed = MAY_IMPORT[own] + (FACADES if own in ("rankwise.graphs", "rankwise.agents",
                                                        "rankwise.cli") else ())
        for target in imports_of(name, path):
            if not any(target == a or target.startswith(a + ".") for a in allowed
                       if a not in FACADES) and target not in allowed:
                broken.append(f"{name} imports {target}")
    assert broken == []


def test_the_layer_check_sees_relative_and_deferred_imports(tmp_path):
    module = tmp_path / "knowledge_base.py"
    module.write_text("def f():\n    from ..agent_tools.retrieve import RetrieveTool\n")

    found = imports_of("rankwise.tools.services.knowledge_base", module)

    assert found == {"rankwise.tools.agent_tools.retrieve"}
