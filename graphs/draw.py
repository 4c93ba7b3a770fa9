"""Drawing the graph with no network: Mermaid text, or a PNG from Graphviz's `dot`.

LangGraph's `draw_mermaid_png()` calls a web service and fails offline; `dot` from
Debian's `graphviz` package renders locally. Without `dot`, `show` falls back to text.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from langgraph.graph.state import CompiledStateGraph


def to_mermaid(graph: CompiledStateGraph) -> str:
    return graph.get_graph().draw_mermaid()


def to_dot(graph: CompiledStateGraph) -> str:
    """Graphviz DOT for the graph: conditional edges dashed, start and end as circles."""
    drawable = graph.get_graph()
    lines = ["digraph rankwise {", '  rankdir=TB; node [shape=box, style=rounded, '
             'fontname="Helvetica"];']
    for node in drawable.nodes.values():
        shape = ', shape=circle, label=""' if node.id in ("__start__", "__end__") else ""
        lines.append(f'  "{node.id}" [label="{node.name}"{shape}];')
    for edge in drawable.edges:
        style = " [style=dashed]" if edge.conditional else ""
        lines.append(f'  "{edge.source}" -> "{edge.target}"{style};')
    return "\n".join([*lines, "}"])


def to_png(graph: CompiledStateGraph) -> bytes:
    """A PNG rendered by Graphviz's `dot` (Debian package `graphviz`)."""
    dot = shutil.which("dot")
    if dot is None:
        raise FileNotFoundError(
            "Graphviz's `dot` is not installed: `apt-get install graphviz` (or `brew install "
            "graphviz`), or use to_mermaid()"
        )
    return subprocess.run([dot, "-Tpng"], input=to_dot(graph).encode(), capture_output=True,
                          check=True, timeout=30).stdout


def show(graph: CompiledStateGraph) -> Any:
    """For a notebook: the graph as a picture, or as Mermaid text when `dot` is missing."""
    from IPython.display import Image, Markdown

    try:
        return Image(to_png(graph))
    except FileNotFoundError:
        return Markdown(f"```mermaid\n{to_mermaid(graph)}\n```")
