"""Splitting sources into overlapping chunks measured in the embedding model's tokens,
with content-addressed ids.

Splits fall at the largest structure that fits: Markdown headings, reST section titles (a
title stays with its underline, and overline), paragraphs, lines, then sentences (Chinese
at 。！？； and English at . ! ? ;), clauses, words and, last, characters.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_text_splitters import RecursiveCharacterTextSplitter

from .documents import MAX_TEXT_BYTES, Source

CHUNKING_REVISION = 1
"""Bumped whenever a change to this module cuts some text into other chunks: sources
recorded under another revision are split again (and only their changed chunks embedded)."""

TokenCounter = Callable[[str], int]
"""How many tokens the embedding model makes of a text (special tokens not counted)."""

_METADATA_JSON = json.JSONEncoder(sort_keys=True, default=str)  # one, not one per document

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
    return sum(_piece_tokens(match.group()) for match in _PIECES.finditer(text))


def within_tokens(text: str, tokens: int) -> str:
    """The longest start of `text` whose estimated tokens are at most `tokens`."""
    count = 0
    for match in _PIECES.finditer(text):
        count += _piece_tokens(match.group())
        if count > tokens:
            return text[:match.start()]
    return text


def _piece_tokens(piece: str) -> int:
    if piece[0].isdigit():
        return (len(piece) + 1) // 2
    if piece[0].isascii() and piece[0].isalpha():
        return 1 + len(piece) // 4
    return 1


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


CONTEXT_TOKENS = 32
"""Tokens of a chunk's headings at most: the room a chunk leaves for them in the window."""
MIN_SHARE = 8
"""A chunk under 1/MIN_SHARE of the chunk size is a fragment: it joins a neighbour."""


@dataclass(frozen=True)
class Chunk:
    """One piece of a source, ready to embed and store; `context` is its document's title
    and heading path ("Guide > Install > Upgrading"), embedded and indexed with it and
    kept in its metadata as `headings`."""

    id: str
    text: str
    source: str
    index: int
    metadata: dict[str, Any]
    context: str = ""

    @property
    def embedded(self) -> str:
        """What the models read: the headings, then the chunk's own text."""
        return embedded_text(self.context, self.text)


def embedded_text(context: str, text: str) -> str:
    """What the embedding model reads of a chunk: its headings, then its text."""
    return f"{context}\n\n{text}" if context else text


_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
_MD_FENCE = re.compile(r"^(```|~~~)", re.M)
_RST_TITLE = re.compile(rf"^(?:({_UNDERLINE})\n)?([^\n]*\w[^\n]*)\n({_UNDERLINE})[ \t]*$", re.M)


def headings(text: str, kind: str) -> list[tuple[int, int, str]]:
    """The headings of a document as (offset, level, title), in order: Markdown `#` lines
    outside code fences, reST titles (levels in order of their adornments' first use)."""
    if kind == "markdown":
        fences = [m.start() for m in _MD_FENCE.finditer(text)]
        def fenced(at: int) -> bool:
            return sum(1 for f in fences if f < at) % 2 == 1
        return [(m.start(), len(m.group(1)), m.group(2).strip())
                for m in _MD_HEADING.finditer(text) if not fenced(m.start())]
    if kind == "rst":
        adornments: list[tuple[bool, str]] = []
        found = []
        for m in _RST_TITLE.finditer(text):
            style = (m.group(1) is not None, m.group(3)[0])
            if style not in adornments:
                adornments.append(style)
            found.append((m.start(), adornments.index(style) + 1, m.group(2).strip()))
        return found
    return []


def _path(found: list[tuple[int, int, str]], at: int) -> list[str]:
    """The heading path in force at offset `at`."""
    stack: list[tuple[int, str]] = []
    for offset, level, title in found:
        if offset > at:
            break
        stack = [(lv, t) for lv, t in stack if lv < level] + [(level, title)]
    return [title for _, title in stack]


def _heading_lines(text: str, kind: str) -> str:
    """`text` without its heading lines (and reST adornments)."""
    if kind == "markdown":
        return _MD_HEADING.sub("", text)
    if kind == "rst":
        return _RST_TITLE.sub("", text)
    return text


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
                 namespace: str = "", counter: str = "estimate") -> None:
        """`counter` names what `count` counts with (a tokenizer file, or `estimate`), so
        that fingerprints change with it."""
        self.size, self.overlap, self.count, self.namespace = size, overlap, count, namespace
        self.counter = counter
        # The JSON list the fingerprint begins with, less its source's name and kind.
        self._settings = json.dumps(
            [CHUNKING_REVISION, size, overlap, namespace, counter])[:-1]

        def splitter(separators: list[str]) -> RecursiveCharacterTextSplitter:
            return RecursiveCharacterTextSplitter(
                separators=separators, is_separator_regex=True, keep_separator="start",
                chunk_size=size, chunk_overlap=min(overlap, size // 2),
                length_function=count, add_start_index=True)

        self._default = splitter(_TAIL)
        self._by_kind = {kind: splitter(separators) for kind, separators in _SEPARATORS.items()}

    def fingerprint(self, source: Source) -> str:
        """A digest of everything `split` reads: the source's name, kind, texts and metadata,
        and this chunker's settings and revision. Equal fingerprints give equal chunks, so
        an unchanged source need not be split again."""
        named = f"{self._settings}, {json.dumps(source.name)}, {json.dumps(source.kind)}]"
        digest = hashlib.sha256(named.encode())
        for document in source.documents:
            text = document.page_content.encode("utf-8", "surrogatepass")
            digest.update(b"%d:%s" % (len(text), text))
            digest.update(_METADATA_JSON.encode(document.metadata).encode())
        return digest.hexdigest()[:32]

    def split(self, source: Source) -> list[Chunk]:
        """The source's chunks: no chunk is only headings (its headings go with the next),
        a fragment under 1/MIN_SHARE of the size joins a neighbour it fits with, and every
        chunk carries its document's title and heading path."""
        splitter = self._by_kind.get(source.kind, self._default)
        chunks: list[Chunk] = []
        for document in source.documents:
            metadata = {k: v for k, v in document.metadata.items() if k != "source"}
            text = document.page_content
            found = headings(text, source.kind)
            title = str(metadata.get("title") or "")
            pieces: list[tuple[str, list[str]]] = []
            for piece in splitter.create_documents([text]):
                path = _path(found, piece.metadata["start_index"])
                if title and path[:1] != [title]:
                    path.insert(0, title)
                if _heading_lines(piece.page_content, source.kind).strip():
                    pieces.append((piece.page_content, path))
            for piece_text, path in self._joined(pieces, source.kind):
                for fitted in _within_bytes([piece_text]):
                    index = len(chunks)
                    context = self._context(path)
                    chunks.append(Chunk(
                        chunk_id(source.name, index, fitted, self.namespace), fitted,
                        source.name, index,
                        {**metadata, "headings": context} if context else dict(metadata),
                        context))
        return chunks

    def _joined(self, pieces: list[tuple[str, list[str]]],
                kind: str) -> list[tuple[str, list[str]]]:
        """Fragments joined to a neighbour they fit with: a small piece that does not open
        a section joins the one before; a small piece before another joins it, under the
        heading path of the section that opens there (a short section with its own
        heading is whole, not a fragment)."""
        small = max(1, self.size // MIN_SHARE)
        joined: list[tuple[str, list[str]]] = []
        for text, path in pieces:
            if joined:
                before, before_path = joined[-1]
                opens = _heading_lines(text, kind) != text and not text[:1].isspace() and (
                    _heading_lines(text.split("\n\n", 1)[0], kind).strip() == "")
                merged = f"{before}\n\n{text}"
                fits = self.count(merged) <= self.size
                if fits and self.count(text) < small and not opens:
                    joined[-1] = (merged, before_path)
                    continue
                if fits and self.count(before) < small:
                    joined[-1] = (merged, path if opens else before_path)
                    continue
            joined.append((text, path))
        return joined

    def _context(self, path: list[str]) -> str:
        """The heading path as one line, cut to CONTEXT_TOKENS tokens from its start."""
        context = " > ".join(path)
        while context and self.count(context) > CONTEXT_TOKENS:
            context = context[: int(len(context) * 0.9)].rstrip()
        return context


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
