"""Drawing the graph with no network: Mermaid text, or a PNG from Graphviz's `dot`.

LangGraph's `draw_mermaid_png()` calls a web service and fails offline; `dot` from
Debian's `graphviz` package renders locally. Conditional edges are dashed and carry the
condition's name; start and end are drawn apart from the nodes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from langgraph.graph.state import CompiledStateGraph

_TERMINALS = {
    "__start__": 'label="start", shape=oval, style=filled, fillcolor="#d8f3dc"',
    "__end__": 'label="end", shape=doubleoctagon, style=filled, fillcolor="#e9ecef"',
}
_NO_DOT = ("Graphviz's `dot` is not installed: `apt-get install graphviz` (or `brew install "
           "graphviz`) draws this graph as a picture; or paste the Mermaid text into any "
           "Mermaid viewer")


def to_mermaid(graph: CompiledStateGraph) -> str:
    return graph.get_graph().draw_mermaid()


def to_dot(graph: CompiledStateGraph) -> str:
    """Graphviz DOT for the graph: conditional edges dashed and labelled, start and end
    shown as such."""
    drawable = graph.get_graph()
    lines = ["digraph rankwise {", '  rankdir=TB; node [shape=box, style=rounded, '
             'fontname="Helvetica"]; edge [fontname="Helvetica", fontsize=10];']
    for node in drawable.nodes.values():
        look = _TERMINALS.get(node.id, f"label={json.dumps(node.name)}")
        lines.append(f"  {json.dumps(node.id)} [{look}];")
    for edge in drawable.edges:
        style = ""
        if edge.conditional:
            label = f", label={json.dumps(' ' + str(edge.data) + ' ')}" if edge.data else ""
            style = f" [style=dashed{label}]"
        lines.append(f"  {json.dumps(edge.source)} -> {json.dumps(edge.target)}{style};")
    return "\n".join([*lines, "}"])


def to_png(graph: CompiledStateGraph) -> bytes:
    """A PNG rendered by Graphviz's `dot` (Debian package `graphviz`)."""
    dot = shutil.which("dot")
    if dot is None:
        raise FileNotFoundError(_NO_DOT + ", or use to_mermaid()")
    return subprocess.run([dot, "-Tpng"], input=to_dot(graph).encode(), capture_output=True,
                          check=True, timeout=30).stdout


def show(graph: CompiledStateGraph, path: str | Path | None = None) -> Any:
    """The graph as a picture. In a notebook: an image rendered locally. Elsewhere: a PNG
    written to `path` (default `<graph name>.png`), whose path is returned.
    Without Graphviz: says how to get the picture, and gives the Mermaid text instead."""
    try:
        png: bytes | None = to_png(graph)
    except FileNotFoundError:
        png = None
    if _in_notebook():
        from IPython.display import Image, Markdown

        if png is not None:
            return Image(png)
        return Markdown(f"{_NO_DOT}.\n\n```mermaid\n{to_mermaid(graph)}\n```")
    if png is None:
        print(f"{_NO_DOT}.", file=sys.stderr)
        return to_mermaid(graph)
    target = Path(path or f"{graph.get_name()}.png")
    target.write_bytes(png)
    return target


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    return ipython is not None and ipython.get_ipython() is not None
