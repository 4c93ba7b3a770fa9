"""What a source has stored: how many chunks, a digest of their ids, and a fingerprint of
the content they were cut from. A matching fingerprint tells an unchanged source without
chunking it; matching ids tell it without reading its chunks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class SourceRecord:
    """A source as last stored: how many chunks, a digest of their ids, and the fingerprint
    of its content (`Chunker.fingerprint`; empty when not known)."""

    count: int
    digest: str
    content: str = ""

    def same_chunks(self, other: SourceRecord) -> bool:
        return (self.count, self.digest) == (other.count, other.digest)


def record_of(ids: Iterable[str], content: str = "") -> SourceRecord:
    """The record of a source whose chunks have these ids, cut from `content`."""
    ordered = sorted(ids)
    return SourceRecord(len(ordered),
                        hashlib.sha256("\n".join(ordered).encode()).hexdigest()[:32], content)
