"""What notebooks show: HTML for hits, answers and reranks (Jupyter's `_repr_html_`), every
text escaped, passages folded under their source so a page stays readable."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from .vocabulary import Hit

STYLE = ("<style>.rw td,.rw th{text-align:left;vertical-align:top;padding:2px 8px}"
         ".rw summary{cursor:pointer}.rw pre{white-space:pre-wrap;margin:4px 0;"
         "max-width:80ch}.rw .warn{color:#a15c00}</style>")


def short(text: str, limit: int = 60) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def folded(summary: str, text: str, anchor: str | None = None) -> str:
    """`text` folded under a one-line `summary` (HTML `<details>`)."""
    at = f' id="{html.escape(anchor)}"' if anchor else ""
    return (f"<details{at}><summary>{html.escape(summary)}</summary>"
            f"<pre>{html.escape(text)}</pre></details>")


def hits_table(hits: Sequence[Hit | dict[str, Any]], caption: str = "",
               anchors: Sequence[str] | None = None,
               numbers: Sequence[int] | None = None) -> str:
    """A table of hits (or their dicts): rank (or `numbers`, e.g. citation numbers),
    source and chunk, score, rerank grade, the text folded."""
    rows = []
    for n, item in enumerate(hits, start=1):
        hit = item.model_dump() if isinstance(item, Hit) else item
        grade, score = hit.get("rerank_score"), hit.get("score")
        anchor = anchors[n - 1] if anchors else None
        text = str(hit.get("text", ""))
        rows.append(
            f"<tr><td>{numbers[n - 1] if numbers else n}</td>"
            f"<td>{html.escape(str(hit.get('source', '')))} #{hit.get('chunk_index', 0)}</td>"
            f"<td>{'' if score is None else f'{score:.3f}'} "
            f"({html.escape(str(hit.get('scored_by', '')))})</td>"
            f"<td>{'' if grade is None else f'{grade:.2f}'}</td>"
            f"<td>{folded(short(text), text, anchor)}</td></tr>")
    head = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f'{STYLE}<table class="rw">{head}<tr><th>#</th><th>source</th><th>score</th>'
            f"<th>grade</th><th>text</th></tr>{''.join(rows)}</table>")


def warnings_list(warnings: Sequence[str]) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
    return f'<ul class="rw warn">{items}</ul>'


class Hits(list[Hit]):
    """Search results: a list of `Hit`s that a notebook shows as a table."""

    def __repr__(self) -> str:
        lines = [f"[{n}] {hit.source} #{hit.chunk_index} {hit.score:.3f} {short(hit.text, 50)!r}"
                 for n, hit in enumerate(self[:10], start=1)]
        more = [f"... {len(self) - 10} more"] if len(self) > 10 else []
        return "\n".join([f"Hits({len(self)})", *lines, *more])

    def _repr_html_(self) -> str:
        return hits_table(self, caption=f"{len(self)} hits")
