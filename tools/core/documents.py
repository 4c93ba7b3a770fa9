"""Finding and reading files: text, Markdown, reStructuredText, HTML, and PDF (optional)."""

from __future__ import annotations

import codecs
import fnmatch
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from langchain_core.documents import Document

from .errors import UnreadableFileError

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
MAX_TEXT_BYTES = 65_535
"""The most UTF-8 bytes a stored text field holds (Milvus's VARCHAR limit)."""
MAX_SOURCE_BYTES = 4_096
"""The most UTF-8 bytes of a source name."""


@dataclass
class Source:
    """Everything ingested under one source name: one file, or documents sharing a source."""

    name: str
    kind: str
    documents: list[Document] = field(default_factory=list)


@dataclass
class Discovery:
    """The files found to ingest, and what was passed over, each with its reason."""

    files: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def discover(
    paths: Sequence[str | os.PathLike],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Discovery:
    """Regular files under `paths`, recursively, filtered by glob patterns, in a stable
    order; what cannot be read (a folder without permission, a symlink loop, a FIFO or
    device, a name that is not UTF-8) is passed over with its reason.

    Directories contribute the file types rankwise reads; a file named explicitly
    is always taken. Patterns match the path relative to the directory given, or the name.
    """
    found: dict[Path, None] = {}
    skipped: list[str] = []

    def take(file: Path) -> None:
        if (problem := _not_ingestible(file)) is None:
            found[_absolute(file)] = None
        else:
            skipped.append(f"{_printable(file)}: {problem}")

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            def unreadable(error: OSError) -> None:
                skipped.append(f"{_printable(Path(error.filename))}: cannot read this folder "
                               f"({error.strerror}); its files were left as they are")

            for root, dirs, files in os.walk(path, onerror=unreadable):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    file = Path(root, name)
                    if _selected(file.relative_to(path).as_posix(), name, include, exclude):
                        take(file)
        elif os.path.lexists(path):
            take(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {_printable(path)}")
    return Discovery(list(found), skipped)


def exists(path: str) -> bool:
    """False only when `path` is certainly gone: nothing, or no folder, at that place.
    A path that cannot be checked (a folder without permission, a symlink loop) exists."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return True


def _printable(path: Path) -> str:
    """A path as text even when its name is not UTF-8 (undecodable bytes as \\xNN)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _not_ingestible(file: Path) -> str | None:
    """Why `file` cannot be ingested before it is read, or None."""
    try:
        os.fsencode(file).decode("utf-8")
    except UnicodeDecodeError:
        return "its name is not UTF-8; rename it (for example with convmv -t utf8)"
    try:
        mode = file.stat().st_mode
    except OSError as exc:
        return f"cannot be opened ({exc.strerror})"
    if not stat.S_ISREG(mode):
        return "not a regular file (a FIFO, socket or device is never read)"
    return None


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
    text, encoding = _decode(path)
    metadata: dict = {"file_type": kind}
    if encoding not in ("utf-8", "utf-8-sig"):
        metadata["encoding"] = encoding
    if kind == "html":
        title, text = html_to_text(text)
        if title:
            metadata["title"] = title
    return Source(name, kind, [Document(page_content=text, metadata=metadata)])


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
# Encodings a detector tells apart reliably: multi-byte ones, whose byte patterns rarely
# decode by chance. A single-byte guess (cp1250 or cp1252?) is only named, never trusted.
_DETECTED = frozenset({"gb18030", "gbk", "gb2312", "hz", "big5", "big5hkscs", "cp950",
                       "cp932", "shift_jis", "euc_jp", "iso2022_jp", "euc_kr", "cp949",
                       "utf_16", "utf_16_le", "utf_16_be", "utf_32", "utf_32_le", "utf_32_be"})


def _decode(path: Path) -> tuple[str, str]:
    """The file's text and its encoding: a byte-order mark's, UTF-8, or a multi-byte
    encoding charset-normalizer recognises (GB18030, Shift-JIS, UTF-16 without a mark)."""
    data = path.read_bytes()
    encoding = next((codec for bom, codec in _BOMS if data.startswith(bom)), None)
    binary = b"\x00" in data[:_BINARY_SNIFF]
    try:
        return data.decode(encoding or "utf-8"), encoding or "utf-8"
    except UnicodeDecodeError as exc:
        failure = exc
    from charset_normalizer import from_bytes

    guess = from_bytes(data).best()
    if guess is not None and guess.encoding in _DETECTED:
        return str(guess), guess.encoding
    if binary or guess is None:
        raise UnreadableFileError(f"{_printable(path)}: binary file")
    raise UnreadableFileError(
        f"{_printable(path)}: not UTF-8 text (byte 0x{data[failure.start]:02x} at offset "
        f"{failure.start}); it may be {guess.encoding} (a guess: check it): convert it with "
        f"`iconv -f {guess.encoding} -t UTF-8 FILE > NEW` and ingest it again")


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


_STRICT_JSON = json.JSONEncoder(allow_nan=False)  # what Milvus's JSON field accepts


def storable_problem(source: Source) -> str | None:
    """Why `source` cannot be stored as it is (a name too long or not Unicode, text with
    lone surrogates, metadata that is not JSON), or None."""
    try:
        if len(source.name.encode("utf-8")) > MAX_SOURCE_BYTES:
            return (f"its name is longer than {MAX_SOURCE_BYTES} bytes; give it a shorter "
                    "source")
        for document in source.documents:
            document.page_content.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"its name or text is not valid Unicode (a lone surrogate at {exc.start}); "
                "decode it with errors='replace'")
    for document in source.documents:
        try:
            _STRICT_JSON.encode(document.metadata)
        except (TypeError, ValueError, RecursionError) as exc:
            return (f"its metadata is not JSON ({' '.join(str(exc).split())[:120]}); use "
                    "strings, numbers, booleans, lists and mappings, nested a few levels")
    return None


def group_documents(documents: Iterable[Document]) -> list[Source]:
    """In-code documents grouped by `metadata['source']` (content-addressed when absent)."""
    groups: dict[str, Source] = {}
    for doc in documents:
        name = doc.metadata.get("source") or (
            "text:" + hashlib.sha256(doc.page_content.encode()).hexdigest()[:16]
        )
        groups.setdefault(str(name), Source(str(name), "text")).documents.append(doc)
    return list(groups.values())
