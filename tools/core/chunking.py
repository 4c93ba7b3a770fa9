"""Splitting sources into overlapping chunks measured in the embedding model's tokens,
with content-addressed ids.

Splits fall at the largest structure that fits: Markdown headings, reST section titles (a
title stays with its underline, and overline), paragraphs, lines, then sentences (Chinese
at 。！？； and English at . ! ? ;), clauses, words and, last, characters.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_text_splitters import RecursiveCharacterTextSplitter

from .documents import MAX_TEXT_BYTES, Source

TokenCounter = Callable[[str], int]
"""How many tokens the embedding model makes of a text (special tokens not counted)."""

_PIECES = re.compile(r"[a-zA-Z]+|[0-9]+|\S")
ESTIMATE_MARGIN = 0.9
"""Share of a model's window that estimated tokens may fill. On 5,451 chunks of package
documentation (bench/chunking.py) a 256-piece WordPiece model truncated none of them
(0.825 real pieces per estimated token on average); chunk-sized samples of English
passages, package docs and Chinese came to 1.064 at worst."""


def estimate_tokens(text: str) -> int:
    """Tokens a WordPiece or BPE tokenizer makes of `text`, over-estimated: an ASCII word
    counts 1 + 1 per 4 letters, a number 1 per 2 digits begun, any other character
    (CJK, accented letters, punctuation) 1."""
    count = 0
    for match in _PIECES.finditer(text):
        piece = match.group()
        if piece[0].isdigit():
            count += (len(piece) + 1) // 2
        elif piece[0].isascii() and piece[0].isalpha():
            count += 1 + len(piece) // 4
        else:
            count += 1
    return count


_UNDERLINE = r"(?:={3,}|-{3,}|~{3,}|\^{3,}|\*{3,}|\+{3,}|#{3,}|\"{3,}|'{3,}|`{3,}|:{3,}|_{3,})"
_UNDERLINE_END = r"[=\-~^*+#\"'`:_]{3}"
_AFTER_UNDERLINE = rf"(?<!{_UNDERLINE_END})(?<!{_UNDERLINE_END}\n)"  # not just after one
_TAIL = [
    r"\n\n", r"\n",
    r"(?<=[。！？；])", r"(?<=[.!?;])\s",  # sentences
    r"(?<=[，、：,:])",  # clauses
    r" ", "",
]
_SEPARATORS = {
    "markdown": [r"\n(?=#{1,6} )", r"\n(?=```)", r"\n(?=(?:\*{3,}|-{3,}|_{3,})\n)", *_TAIL],
    "rst": [rf"\n(?={_UNDERLINE}\n[^\n]+\n{_UNDERLINE}(?:\n|$))",  # before an overlined title
            rf"\n(?=[^\n]*\w[^\n]*\n{_UNDERLINE}(?:\n|$))",  # before a title and its underline
            # paragraphs and lines, but never between a title and its lines, nor after them
            rf"{_AFTER_UNDERLINE}\n\n", rf"{_AFTER_UNDERLINE}\n(?!{_UNDERLINE}(?:\n|$))",
            *_TAIL[2:]],
}


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
    """Recursive splitting into chunks of at most `size` tokens (`count` measures them),
    neighbours sharing up to `overlap` tokens."""

    def __init__(self, size: int, overlap: int, count: TokenCounter = estimate_tokens,
                 namespace: str = "") -> None:
        self.size, self.count, self.namespace = size, count, namespace

        def splitter(separators: list[str]) -> RecursiveCharacterTextSplitter:
            return RecursiveCharacterTextSplitter(
                separators=separators, is_separator_regex=True, keep_separator="start",
                chunk_size=size, chunk_overlap=min(overlap, size // 2),
                length_function=count)

        self._default = splitter(_TAIL)
        self._by_kind = {kind: splitter(separators) for kind, separators in _SEPARATORS.items()}

    def split(self, source: Source) -> list[Chunk]:
        splitter = self._by_kind.get(source.kind, self._default)
        chunks: list[Chunk] = []
        for document in source.documents:
            metadata = {k: v for k, v in document.metadata.items() if k != "source"}
            for text in _within_bytes(splitter.split_text(document.page_content)):
                if text.strip():
                    index = len(chunks)
                    chunks.append(
                        Chunk(chunk_id(source.name, index, text, self.namespace), text,
                              source.name, index,
                              dict(metadata))
                    )
        return chunks


def _within_bytes(texts: list[str], limit: int = MAX_TEXT_BYTES) -> list[str]:
    """`texts`, any text over `limit` UTF-8 bytes cut into pieces that fit (a run of
    spaces or symbols that counts no tokens can make a chunk of any length)."""
    fitted: list[str] = []
    for text in texts:
        while len(text.encode("utf-8")) > limit:
            cut = len(text.encode("utf-8")[:limit].decode("utf-8", "ignore"))
            fitted.append(text[:cut])
            text = text[cut:]
        fitted.append(text)
    return fitted
