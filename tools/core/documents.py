"""Finding and reading files: text, Markdown, reStructuredText, HTML, and PDF (optional)."""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from langchain_core.documents import Document

KINDS = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".rst": "rst",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
_BINARY_SNIFF = 8192


class UnreadableFileError(Exception):
    """A file that cannot be ingested; the message says why and what to do."""


@dataclass
class Source:
    """Everything ingested under one source name: one file, or documents sharing a source."""

    name: str
    kind: str
    documents: list[Document] = field(default_factory=list)


def discover(
    paths: Sequence[str | os.PathLike],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> list[Path]:
    """Files under `paths`, recursively, filtered by glob patterns, in a stable order.

    Directories contribute the file types rankwise reads; a file named explicitly
    is always taken. Patterns match the path relative to the directory given, or the name.
    """
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found[_absolute(path)] = None
            continue
        if not path.is_dir():
            raise FileNotFoundError(f"no such file or directory: {path}")
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                file = Path(root, name)
                relative = file.relative_to(path).as_posix()
                if _selected(relative, name, include, exclude):
                    found[_absolute(file)] = None
    return list(found)


def _absolute(path: Path) -> Path:
    """`path` resolved; as it stands when it cannot be (a symlink loop), so that reading
    it fails alone, with its reason, instead of the whole walk."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def _selected(relative: str, name: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    def matches(patterns: Sequence[str]) -> bool:
        return any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(name, p) for p in patterns)

    if name.startswith(".") or matches(exclude):
        return False
    if include:
        return matches(include)
    return Path(name).suffix.lower() in KINDS


def load_file(path: Path) -> Source:
    """Read one file into a `Source` named by its absolute path."""
    kind = KINDS.get(path.suffix.lower(), "text")
    name = _absolute(path).as_posix()
    if kind == "pdf":
        return Source(name, kind, _read_pdf(path))
    text = _decode(path)
    metadata: dict = {"file_type": kind}
    if kind == "html":
        title, text = html_to_text(text)
        if title:
            metadata["title"] = title
    return Source(name, kind, [Document(page_content=text, metadata=metadata)])


def _decode(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:_BINARY_SNIFF]:
        raise UnreadableFileError(f"{path}: binary file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "convert it with `iconv -t UTF-8` and ingest it again"
        ) from None


def _read_pdf(path: Path) -> list[Document]:
    try:
        from pypdf import PdfReader
    except ImportError:
        raise UnreadableFileError(
            f"{path}: PDF support is an extra: pip install 'rankwise[pdf]'"
        ) from None
    try:
        reader = PdfReader(path)
        return [
            Document(page_content=page.extract_text() or "",
                     metadata={"file_type": "pdf", "page": number})
            for number, page in enumerate(reader.pages, start=1)
        ]
    except Exception as exc:  # pypdf raises many types for damaged files
        raise UnreadableFileError(f"{path}: cannot read PDF ({exc})") from None


class _HTMLText(HTMLParser):
    _SKIP = {"script", "style", "noscript", "template", "svg"}
    _BLOCK = {"p", "div", "br", "li", "tr", "section", "article", "header", "footer",
              "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "table", "ul", "ol"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skipping = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "title":
            self._in_title = True
        elif tag in self._BLOCK:
            self.parts.append("\n\n" if tag.startswith("h") or tag == "p" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag == "title":
            self._in_title = False
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """The page's title and its visible text, paragraphs kept apart."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    text, blank = [], False
    for line in lines:
        if line:
            text.append(line)
            blank = False
        elif not blank and text:
            text.append("")
            blank = True
    return " ".join("".join(parser.title).split()), "\n".join(text).strip()


def group_documents(documents: Iterable[Document]) -> list[Source]:
    """In-code documents grouped by `metadata['source']` (content-addressed when absent)."""
    groups: dict[str, Source] = {}
    for doc in documents:
        name = doc.metadata.get("source") or (
            "text:" + hashlib.sha256(doc.page_content.encode()).hexdigest()[:16]
        )
        groups.setdefault(str(name), Source(str(name), "text")).documents.append(doc)
    return list(groups.values())
