"""Checking an answer's [n] citations against the passages it was given."""

from __future__ import annotations

import re
from typing import Any

_CITATION = re.compile(r"\[(\d{1,3})\]")


def check_citations(
    answer: str, passages: list[dict[str, Any]]
) -> tuple[str, list[dict[str, Any]], list[int]]:
    """The answer without citations to passages it was not given, the passages it cites
    (in order of first citation), and the invented citation numbers that were removed."""
    cited: dict[int, None] = {}
    invalid: dict[int, None] = {}

    def keep(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if 1 <= number <= len(passages):
            cited[number] = None
            return match.group(0)
        invalid[number] = None
        return ""

    cleaned = _CITATION.sub(keep, answer)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned) if invalid else cleaned
    citations = [
        {"n": n, **{k: passages[n - 1].get(k) for k in ("id", "source", "chunk_index", "score")}}
        for n in cited
    ]
    return cleaned, citations, list(invalid)
