"""Splitting sources into overlapping chunks with content-addressed ids."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

from .documents import Source

_LANGUAGES = {"markdown": Language.MARKDOWN, "rst": Language.RST}


@dataclass(frozen=True)
class Chunk:
    """One piece of a source, ready to embed and store."""

    id: str
    text: str
    source: str
    index: int
    metadata: dict[str, Any]


def chunk_id(source: str, index: int, text: str, namespace: str = "") -> str:
    """Content address of a chunk: the same text at the same place keeps its id; a
    `namespace` (a tenant) gives its own ids to the same text at the same place."""
    place = f"{namespace}\x00{source}" if namespace else source
    digest = hashlib.sha256(f"{place}\x00{index}\x00{text}".encode())
    return digest.hexdigest()[:32]


class Chunker:
    """Recursive character splitting, with Markdown- and reST-aware separators."""

    def __init__(self, chunk_size: int, chunk_overlap: int, namespace: str = "") -> None:
        self.namespace = namespace

        def splitter(language: Language | None) -> RecursiveCharacterTextSplitter:
            if language is None:
                return RecursiveCharacterTextSplitter(
                    chunk_size=chunk_size, chunk_overlap=chunk_overlap
                )
            return RecursiveCharacterTextSplitter.from_language(
                language, chunk_size=chunk_size, chunk_overlap=chunk_overlap
            )

        self._default = splitter(None)
        self._by_kind = {kind: splitter(lang) for kind, lang in _LANGUAGES.items()}

    def split(self, source: Source) -> list[Chunk]:
        splitter = self._by_kind.get(source.kind, self._default)
        chunks: list[Chunk] = []
        for document in source.documents:
            metadata = {k: v for k, v in document.metadata.items() if k != "source"}
            for text in splitter.split_text(document.page_content):
                if text.strip():
                    index = len(chunks)
                    chunks.append(
                        Chunk(chunk_id(source.name, index, text, self.namespace), text,
                              source.name, index,
                              dict(metadata))
                    )
        return chunks
