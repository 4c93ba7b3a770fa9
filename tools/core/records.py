"""What a source has stored: how many chunks, and a digest of their ids. Compared with
what a source would store now, it tells an unchanged source without reading its chunks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class SourceRecord:
    """A source as last stored: how many chunks, and a digest of their ids."""

    count: int
    digest: str


def record_of(ids: Iterable[str]) -> SourceRecord:
    """The record of a source whose chunks have these ids."""
    ordered = sorted(ids)
    return SourceRecord(len(ordered), hashlib.sha256("\n".join(ordered).encode()).hexdigest()[:32])
