"""Known-item sets built from real text nobody here wrote: Debian's documentation packages.

- `manpages-zh`, `manpages-ja`: Chinese and Japanese man pages. The query is a page's NAME
  description ("排队、检查或删除以后要执行的作业"), the answer is that page; the NAME line is
  removed from the page, so no search finds it by copying the query.
- `python3-doc`: the Python library reference (reST sources). The query is the first
  sentence of a function, method or class entry, the answer that entry without it.
- `debian-reference`: the Debian Reference (English, plain text). The query is a section's
  title ("Connecting without remote passwords"), the answer that section's text; titles
  name a topic in other words than its text, as a question does.

Each set is written in BEIR layout (corpus.jsonl, queries.jsonl, qrels/test.tsv, grade 1)
under bench/results/heldout/, for `rankwise eval` and bench/retrieval.py. The benchmark
installs the packages itself (`apt-get install manpages-zh manpages-ja python3-doc`); the
product never needs them.

    python bench/heldout.py [--queries 200]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from _support import ROOT

HELDOUT = ROOT / "bench" / "results" / "heldout"
PACKAGES = {"manpages-zh": "/usr/share/man/zh_CN", "manpages-ja": "/usr/share/man/ja",
            "python3-doc": "/usr/share/doc/python3-doc",
            "debian-reference-en": "/usr/share/debian-reference/debian-reference.en.txt.gz"}
_FONT = re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)")
_ESCAPE = re.compile(r"\\(?:\(..|\*.|[-&|^ e])")
_HAN_OR_KANA = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def install(packages: list[str]) -> None:
    """Install the packages not installed yet (their folders may exist without them:
    other packages ship a few translated man pages too)."""
    missing = [p for p in packages if subprocess.run(
        ["dpkg-query", "-W", "-f", "${Status}", p], capture_output=True,
        text=True).stdout != "install ok installed"]
    if missing:
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True,
                       stdout=subprocess.DEVNULL)


def roff_text(source: str) -> tuple[str, list[str]]:
    """A man page's NAME description (its first section: NAME, 名前, 名称) and its other
    lines as plain text."""
    name, lines, sections = "", [], 0
    for raw in source.splitlines():
        line = _ESCAPE.sub(lambda m: "-" if m.group() == "\\-" else " ", _FONT.sub("", raw))
        if line.startswith((".SH", ".SS")):
            sections += 1
            lines.append(line[3:].strip().strip('"') if sections > 1 else "")
            continue
        if line.startswith("."):
            macro, _, rest = line.partition(" ")
            if macro not in (".B", ".I", ".BR", ".IR", ".RB", ".BI", ".IB", ".RI", ".TP",
                             ".IP"):
                continue
            line = rest.replace('"', "")
        if sections == 1 and not name and " - " in line:
            name = line.split(" - ", 1)[1].strip()
            continue
        if line.strip():
            lines.append(line.strip())
    return name, lines


def man_pages(root: Path) -> Iterator[tuple[str, str, str]]:
    """(page id, query, text) for every page whose NAME description is in the language."""
    for path in sorted(root.glob("man*/*.gz")):
        try:
            source = gzip.decompress(path.read_bytes()).decode("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        query, lines = roff_text(source)
        if len(_HAN_OR_KANA.findall(query)) >= 4 and len(lines) >= 3:
            yield path.name.removesuffix(".gz"), query, "\n".join(lines)


_ENTRY = re.compile(r"^\.\. (?:function|method|class|classmethod|staticmethod)::\s*(\S+?)\(",
                    re.M)


def python_entries(root: Path) -> Iterator[tuple[str, str, str]]:
    """(entry id, first sentence, the rest of the entry) from the library reference."""
    for path in sorted((root / "html" / "_sources" / "library").glob("*.rst.txt")):
        text = path.read_text(encoding="utf-8", errors="replace")
        starts = [m.start() for m in _ENTRY.finditer(text)] + [len(text)]
        for start, end in zip(starts, starts[1:]):
            block = text[start:end].split("\n\n")
            signature = _ENTRY.match(block[0])
            body = [" ".join(p.split()) for p in block[1:] if p.startswith("   ")]
            if not signature or not body:
                continue
            first, _, rest = body[0].partition(". ")
            words = len(first.split())
            if 5 <= words <= 40 and (rest or len(body) > 1):
                entry = f"{path.name.removesuffix('.rst.txt')}.{signature.group(1)}"
                yield entry, first, "\n\n".join(p for p in [rest, *body[1:]] if p)


_SECTION = re.compile(r"^(\d+(?:\.\d+)+)\.\s+(.+)$")  # "6.3.3. Connecting without ..."


def reference_sections(path: Path) -> Iterator[tuple[str, str, str]]:
    """(section number, title, text) of every section of three words or more in the
    Debian Reference's body (its tables of contents left out: their lines are indented)."""
    number, title, body = "", "", []
    for line in [*gzip.decompress(path.read_bytes()).decode("utf-8").splitlines(), "0.0. end"]:
        heading = _SECTION.match(line)
        if not heading:
            body.append(line.strip())
            continue
        text = "\n".join(body).strip()
        if number and len(title.split()) >= 3 and len(text) >= 200:
            yield number, title, text
        number, title, body = heading.group(1), heading.group(2).strip(), []


def write(name: str, items: list[tuple[str, str, str]], queries: int, seed: int = 0) -> Path:
    """The set in BEIR layout; `queries` of its items asked, all of them in the corpus."""
    target = HELDOUT / name
    shutil.rmtree(target, ignore_errors=True)
    (target / "qrels").mkdir(parents=True)
    unique = {doc: (query, text) for doc, query, text in items}
    asked = random.Random(seed).sample(sorted(unique), min(queries, len(unique)))
    with open(target / "corpus.jsonl", "w", encoding="utf-8") as corpus:
        for doc, (_, text) in unique.items():
            corpus.write(json.dumps({"_id": doc, "title": "", "text": text},
                                    ensure_ascii=False) + "\n")
    with open(target / "queries.jsonl", "w", encoding="utf-8") as out:
        for n, doc in enumerate(asked):
            out.write(json.dumps({"_id": f"q{n}", "text": unique[doc][0]},
                                 ensure_ascii=False) + "\n")
    (target / "qrels" / "test.tsv").write_text(
        "".join(f"q{n}\t{doc}\t1\n" for n, doc in enumerate(asked)))
    return target


def build(queries: int) -> list[Path]:
    install(list(PACKAGES))
    sets = [write("manpages-zh", list(man_pages(Path(PACKAGES["manpages-zh"]))), queries),
            write("manpages-ja", list(man_pages(Path(PACKAGES["manpages-ja"]))), queries),
            write("python3-doc", list(python_entries(Path(PACKAGES["python3-doc"]))), queries),
            write("debian-reference",
                  list(reference_sections(Path(PACKAGES["debian-reference-en"]))), queries)]
    for path in sets:
        documents = sum(1 for _ in open(path / "corpus.jsonl", encoding="utf-8"))
        asked = sum(1 for _ in open(path / "queries.jsonl", encoding="utf-8"))
        print(f"{path.name}: {documents} documents, {asked} known-item queries -> {path}")
    return sets


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=200, help="known items asked per set")
    build(parser.parse_args().queries)
