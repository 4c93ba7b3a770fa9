"""A rerank as a picture (SVG, drawn here: no plotting library, no web service): every
candidate's place before (retrieval) and after (rerank) joined by a line, the kept top-K
in colour, each one's grade, wins or rerank-model score, the reasons when asked for, and
what the rerank cost."""

from __future__ import annotations

import html
import re
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from ...core.display import short
from ...core.vocabulary import Hit

if TYPE_CHECKING:
    from .records import RerankResult

ROW = 18            # pixels per candidate
TOP = 74            # title, subtitle, column heads
LEFT_AXIS, RIGHT_AXIS, WIDTH = 250, 450, 920
KEPT, DROPPED, WARN = "#0b7285", "#c4c4c4", "#b35c00"
FONT = 'font-family="Helvetica, Arial, sans-serif"'
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: object, limit: int = 1000) -> str:
    """`value` as XML text on one line: characters XML forbids removed, markup escaped,
    cut to `limit`."""
    return html.escape(short(_NOT_XML.sub("", str(value)), limit))


def _label(hit: Hit | None, hit_id: str) -> str:
    """A candidate's name: its file's name and chunk, or its id."""
    if hit is None:
        return hit_id[:12]
    name = PurePosixPath(hit.source.replace("\\", "/")).name or hit.source
    return f"{name} #{hit.chunk_index}"


def _judgement(result: RerankResult, hit_id: str) -> str:
    parts = []
    if hit_id in result.scores:
        parts.append(f"grade {result.scores[hit_id]:.2f}")
    if hit_id in result.wins:
        parts.append(f"{result.wins[hit_id]} wins")
    if hit_id in result.cross_scores:
        parts.append(f"model {result.cross_scores[hit_id]:.3f}")
    return ", ".join(parts)


def rerank_svg(result: RerankResult) -> str:
    """The picture of `result` as an SVG document."""
    order = result.order
    before = {hit_id: n for n, hit_id in enumerate(result.retrieved or order, start=1)}
    kept = len(result.hits)
    candidates = {hit.id: hit for hit in result.candidates}
    reasons = [(hit.rank, hit.reason) for hit in result.hits if hit.reason]
    height = TOP + ROW * len(order) + 24 + 16 * len(reasons) + (16 if reasons else 0)
    y = lambda rank: TOP + ROW * (rank - 1) + ROW / 2  # noqa: E731
    stages = f"{result.pre} > {result.strategy}" if result.pre else result.strategy
    cost = (f"{result.llm_calls} LLM calls · {result.round_trips} round trips · "
            f"{result.prompt_tokens + result.completion_tokens} tokens · "
            f"{result.seconds:.2f} s")
    if result.rerank_api_calls:
        cost += f" · {result.rerank_api_calls} rerank-model calls"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
           f'viewBox="0 0 {WIDTH} {height:.0f}" {FONT} font-size="12">',
           f'<rect width="{WIDTH}" height="{height:.0f}" fill="white"/>',
           f'<text x="12" y="20" font-size="15" font-weight="bold">rerank: {_text(stages)}, '
           f'{len(order)} candidates, top {kept} kept</text>',
           f'<text x="12" y="38" fill="#444">{_text(cost)}  ·  '
           f'query: {_text(result.query, 70)}</text>',
           f'<text x="{LEFT_AXIS}" y="{TOP - 10}" text-anchor="end" font-weight="bold">'
           f'retrieved</text>',
           f'<text x="{RIGHT_AXIS}" y="{TOP - 10}" font-weight="bold">reranked</text>']
    if result.error:
        out.append(f'<text x="12" y="54" fill="{WARN}">fell back: '
                   f'{_text(result.error, 120)}</text>')
    kept_lines: list[str] = []
    dropped_lines: list[str] = []
    labels: list[str] = []
    for after, hit_id in enumerate(order, start=1):
        is_kept = after <= kept
        colour = KEPT if is_kept else DROPPED
        y0, y1 = y(before.get(hit_id, after)), y(after)
        (kept_lines if is_kept else dropped_lines).append(
            f'<g class="{"kept" if is_kept else "dropped"}"><line x1="{LEFT_AXIS + 6}" '
            f'y1="{y0}" x2="{RIGHT_AXIS - 6}" y2="{y1}" stroke="{colour}" '
            f'stroke-width="{2.2 if is_kept else 1}"/>'
            f'<circle cx="{LEFT_AXIS + 4}" cy="{y0}" r="3" fill="{colour}"/>'
            f'<circle cx="{RIGHT_AXIS - 4}" cy="{y1}" r="3" fill="{colour}"/></g>')
        name = _text(_label(candidates.get(hit_id), hit_id), 30)
        weight = ' font-weight="bold"' if is_kept else ""
        text_colour = "#111" if is_kept else "#777"
        judged = _judgement(result, hit_id)
        labels += [
            f'<text x="{LEFT_AXIS - 10}" y="{y0 + 4}" text-anchor="end" fill="#999">'
            f'{before.get(hit_id, after)}</text>',
            f'<text x="{LEFT_AXIS - 34}" y="{y0 + 4}" text-anchor="end" '
            f'fill="{text_colour}"{weight}>{name}</text>',
            f'<text x="{RIGHT_AXIS + 10}" y="{y1 + 4}" fill="#999">{after}</text>',
            f'<text x="{RIGHT_AXIS + 34}" y="{y1 + 4}" fill="{text_colour}"{weight}>'
            f'{name}{"  (" + _text(judged) + ")" if judged else ""}</text>']
    out += [*dropped_lines, *kept_lines, *labels]  # the kept lines drawn on top
    if 0 < kept < len(order):
        cut = TOP + ROW * kept
        out.append(f'<line x1="{RIGHT_AXIS - 10}" y1="{cut}" x2="{WIDTH - 12}" y2="{cut}" '
                   f'stroke="{KEPT}" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{WIDTH - 12}" y="{cut - 4}" text-anchor="end" fill="{KEPT}">'
                   f'kept above this line (top {kept})</text>')
    if reasons:
        base = TOP + ROW * len(order) + 24
        out.append(f'<text x="12" y="{base}" font-weight="bold">reasons</text>')
        out += [f'<text x="12" y="{base + 16 * n}">{rank}. {_text(reason, 140)}</text>'
                for n, (rank, reason) in enumerate(reasons, start=1)]
    out.append("</svg>")
    return "\n".join(out)
