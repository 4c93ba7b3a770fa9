"""Drawing the graph with no network: Mermaid text, or a PNG from Graphviz's `dot`.

LangGraph's `draw_mermaid_png()` calls a web service and fails offline; `dot` from
Debian's `graphviz` package renders locally. Conditional edges are dashed and carry the
condition's name; start and end are drawn apart from the nodes; a run's way through the
graph (its nodes, the edges it took, how often round a loop) can be drawn on it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.graph.state import CompiledStateGraph
from rankwise.tools import InvalidArgumentError

if TYPE_CHECKING:
    from .answering import Answer

_TERMINALS = {
    "__start__": 'label="start", shape=oval, style=filled, fillcolor="#d8f3dc"',
    "__end__": 'label="end", shape=doubleoctagon, style=filled, fillcolor="#e9ecef"',
}
_RAN, _RAN_FILL, _IDLE = "#0b7285", "#d3f0f4", "#b0b0b0"
_NO_DOT = ("Graphviz's `dot` is not installed: `apt-get install graphviz` (or `brew install "
           "graphviz`) draws this graph as a picture; or paste the Mermaid text into any "
           "Mermaid viewer")


def _quoted(text: str) -> str:
    """A DOT string: quotes escaped, other characters as they are (DOT reads UTF-8)."""
    return json.dumps(text, ensure_ascii=False)


def to_mermaid(graph: CompiledStateGraph) -> str:
    return graph.get_graph().draw_mermaid()


def to_dot(graph: CompiledStateGraph, visited: Sequence[str] | None = None) -> str:
    """Graphviz DOT for the graph: conditional edges dashed and labelled, start and end
    shown as such. With `visited` (a run's nodes in order, `Answer.path`), the nodes that
    ran and the edges taken are highlighted, an edge taken more than once (a loop) says
    how often, and the rest is greyed."""
    drawable = graph.get_graph()
    taken = _edges_taken(visited) if visited is not None else None
    ran = {node for edge in (taken or {}) for node in edge}
    lines = ["digraph rankwise {", '  rankdir=TB; node [shape=box, style=rounded, '
             'fontname="Helvetica"]; edge [fontname="Helvetica", fontsize=10];']
    for node in drawable.nodes.values():
        look = _TERMINALS.get(node.id, f"label={_quoted(node.name)}")
        if taken is not None:
            look += (f', tooltip="ran", penwidth=2, color="{_RAN}"'
                     + (f', style="rounded,filled", fillcolor="{_RAN_FILL}"'
                        if node.id not in _TERMINALS else "")
                     if node.id in ran else
                     f', tooltip="did not run", color="{_IDLE}", fontcolor="{_IDLE}"')
        lines.append(f"  {_quoted(node.id)} [{look}];")
    for edge in drawable.edges:
        attributes = []
        if edge.conditional:
            attributes.append("style=dashed")
        label = f" {edge.data} " if edge.conditional and edge.data else ""
        if taken is not None:
            times = taken.get((edge.source, edge.target), 0)
            label += f"×{times} " if times > 1 else ""
            attributes.append(f'color="{_RAN}", penwidth=2.2' if times
                              else f'color="{_IDLE}", fontcolor="{_IDLE}"')
        if label:
            attributes.append(f"label={_quoted(label)}")
        style = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"  {_quoted(edge.source)} -> {_quoted(edge.target)}{style};")
    return "\n".join([*lines, "}"])


def _edges_taken(visited: Sequence[str]) -> Counter[tuple[str, str]]:
    """How often each edge was taken by a run through `visited`, from start to end."""
    steps = ["__start__", *visited, "__end__"] if visited else []
    return Counter(zip(steps, steps[1:]))


def run_path(graph: CompiledStateGraph, thread_id: str) -> list[str]:
    """The nodes the latest run on `thread_id` went through, in order, read from the
    graph's checkpointer."""
    if graph.checkpointer is None:
        raise InvalidArgumentError("run_path(graph, thread_id) reads the graph's "
                                   "checkpointer: build the graph with one")
    snapshots = []
    for snapshot in graph.get_state_history({"configurable": {"thread_id": thread_id}}):
        snapshots.append(snapshot)
        if snapshot.metadata and snapshot.metadata.get("source") == "input":
            break
    return [node for snapshot in reversed(snapshots) for node in snapshot.next
            if not node.startswith("__")]


def to_png(graph: CompiledStateGraph, visited: Sequence[str] | None = None) -> bytes:
    """A PNG rendered by Graphviz's `dot` (Debian package `graphviz`)."""
    dot = shutil.which("dot")
    if dot is None:
        raise FileNotFoundError(_NO_DOT + ", or use to_mermaid()")
    return subprocess.run([dot, "-Tpng"], input=to_dot(graph, visited).encode(),
                          capture_output=True, check=True, timeout=30).stdout


def show(graph: CompiledStateGraph, run: Answer | str | Path | None = None,
         path: str | Path | None = None, *, thread_id: str | None = None) -> Any:
    """The graph as a picture; with `run` (an `Answer`) or `thread_id` (the latest run on
    that thread, from the checkpointer), the way that run went through it.

    In a notebook: an image rendered locally. Elsewhere: a PNG written to `path`
    (default `<graph name>.png`), whose path is returned. Without Graphviz: says how to
    get the picture, and gives the Mermaid text instead."""
    if isinstance(run, (str, Path)):  # show(graph, "graph.png"), as before runs were drawn
        run, path = None, run
    visited = (run.path if run is not None
               else run_path(graph, thread_id) if thread_id is not None else None)
    try:
        png: bytes | None = to_png(graph, visited)
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
