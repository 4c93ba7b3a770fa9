"""Chunks in the embedding model's tokens, inside its window; reST titles with their
underlines; Chinese split at sentence ends."""

from __future__ import annotations

import re

import pytest
from langchain_core.documents import Document
from rankwise.tools import InvalidArgumentError, KnowledgeBase, RetrieveTool
from rankwise.tools.core.chunking import Chunker, estimate_tokens
from rankwise.tools.core.documents import Source
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

LONG = "\n\n".join(
    f"Paragraph {i}: the deployment pipeline rebuilds container images, verifies "
    f"signatures and rolls out release {i}.{i * 7} to staging before production. " * 4
    for i in range(12))


def basic_tokens(text: str) -> int:
    """BERT's basic tokenization (words, punctuation, each CJK character): no WordPiece
    tokenizer makes fewer tokens of a text."""
    return len(re.findall(r"[\u4e00-\u9fff]|[^\W\u4e00-\u9fff]+|[^\w\s]", text))


def test_ingest_keeps_every_chunk_inside_the_window_ollama_reports(settings, ollama):
    ollama.context_length = 64
    kb = KnowledgeBase(settings, chunk_size=256, chunk_overlap=16, document_prefix="passage: ")

    kb.add_texts([LONG], [{"source": "long.md"}])

    sent = [t for t in ollama.embedded_texts() if not t.startswith("search_query: ")]
    assert len(sent) > 10  # 256 tokens were asked for; the 64-token window won
    assert all(basic_tokens(text) + 2 <= 64 for text in sent)
    assert all(text.startswith("passage: ") for text in sent)


def test_exact_counts_from_the_models_tokenizer_fill_the_window(settings, ollama, tmp_path):
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator([LONG], trainers.WordPieceTrainer(
        vocab_size=60, special_tokens=["[UNK]"]))  # a tiny vocabulary: many pieces per word
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    kb = KnowledgeBase(settings, chunk_size=100, chunk_overlap=10, embed_context=128,
                       embed_tokenizer=str(path), document_prefix="")

    kb.add_texts([LONG], [{"source": "long.md"}])

    sent = ollama.embedded_texts()
    counts = [len(tokenizer.encode(t).ids) for t in sent]
    assert max(counts) <= 100
    # this vocabulary splits words finer than the estimate assumes: only exact counts hold
    assert Chunker(100, 10).split(Source("long.md", "text", [Document(LONG)]))[0].text != sent[0]
    assert any(len(tokenizer.encode(t).ids) > 100 for t in
               (c.text for c in Chunker(100, 10).split(Source("x", "text", [Document(LONG)]))))


def test_an_unreadable_tokenizer_file_is_one_clear_error(settings, tmp_path):
    (tmp_path / "tokenizer.json").write_text("not json")
    with pytest.raises(InvalidArgumentError, match="RANKWISE_EMBED_TOKENIZER"):
        KnowledgeBase(settings, embed_tokenizer=str(tmp_path / "tokenizer.json"))


@pytest.mark.parametrize("size", [40, 80, 200])
def test_estimates_never_undercount_basic_tokens(size):
    chunks = Chunker(size, 8).split(Source("long.md", "markdown", [Document(LONG)]))
    assert all(basic_tokens(c.text) <= estimate_tokens(c.text) <= size for c in chunks)


RST = "\n\n".join(
    f"Section {i}\n{'=-~'[i % 3] * (9 + len(str(i)))}\n\n"
    + f"Body sentence {i} says more. " * (i * 3) for i in range(1, 12)
) + "\n\n======\nAppendix\n======\n\nThe end."
_UNDERLINE = re.compile(r"^([=\-~])\1{2,}$")


def test_rst_titles_stay_with_their_underlines_and_their_text():
    chunks = Chunker(60, 10).split(Source("guide.rst", "rst", [Document(RST)]))

    for chunk in chunks:
        lines = chunk.text.strip().splitlines()
        assert not _UNDERLINE.match(lines[0]) or _UNDERLINE.match(lines[2]), chunk.text
        for number, line in enumerate(lines):
            if line.startswith("Section "):  # a title: its underline, then its body, follow
                assert number + 2 < len(lines) and _UNDERLINE.match(lines[number + 1])
    assert sum("Section" in c.text for c in chunks) >= 11


def test_chinese_text_splits_at_sentence_ends():
    sentences = ["语义检索系统先把文档切成段落。", "再用向量模型计算每个段落的相似度！",
                 "混合检索同时使用关键词；", "效果是否更好？"] * 8
    chunks = Chunker(40, 0).split(Source("zh.txt", "text", [Document("".join(sentences))]))

    assert len(chunks) > 3
    assert all(c.text[-1] in "。！？；" for c in chunks)
    assert "".join(c.text for c in chunks) == "".join(sentences)


GUIDE = """# Operations guide

Short intro.

## Backups

""" + " ".join(f"Backup rule {n}: nightly copies are kept for thirty days." for n in range(40)) \
    + """

### Restoring

Restore with the restore command; it asks which night to bring back.

## Keys

Signing keys rotate every ninety days.

Ok.
"""


def guide_chunks(size: int = 120) -> list:
    return Chunker(size, 10).split(Source("guide.md", "markdown", [Document(GUIDE)]))


def test_no_chunk_is_only_a_heading_or_a_fragment():
    chunks = guide_chunks()

    for chunk in chunks:
        body = re.sub(r"^#{1,6} .*$", "", chunk.text, flags=re.M).strip()
        assert body, f"a chunk of headings only: {chunk.text!r}"
        assert estimate_tokens(chunk.text) <= 120
    assert not any(c.text.strip() in ("Ok.", "Short intro.") for c in chunks), "fragments joined"
    assert any("Ok." in c.text for c in chunks) and any("Short intro." in c.text for c in chunks)


def test_every_chunk_carries_its_heading_path():
    chunks = guide_chunks(size=40)  # each section a chunk or more of its own
    by_text = {c.text: c for c in chunks}

    restoring = next(c for t, c in by_text.items() if "restore command" in t)
    keys = next(c for t, c in by_text.items() if "ninety days" in t)
    rules = [c for t, c in by_text.items() if "Backup rule 30" in t]

    assert restoring.context == "Operations guide > Backups > Restoring"
    assert keys.context == "Operations guide > Keys"
    assert rules and all(c.context == "Operations guide > Backups" for c in rules)
    assert all(c.metadata["headings"] == c.context for c in chunks)
    assert restoring.embedded.startswith("Operations guide > Backups > Restoring\n\n")


def test_headings_reach_the_model_and_the_llm_marked_apart(kb, ollama, tmp_path):
    (tmp_path / "guide.md").write_text(GUIDE)
    kb.ingest([tmp_path / "guide.md"])

    sent = ollama.embedded_texts()
    hit = kb.search("how do I bring back a night", k=1, mode="lexical")[0]
    tool_text = RetrieveTool(knowledge_base=kb).invoke({"query": "restore command", "k": 1})

    assert any(t.startswith("search_document: Operations guide > Backups") for t in sent)
    assert hit.text.startswith("### Restoring") or "restore command" in hit.text
    assert hit.metadata["headings"].startswith("Operations guide > Backups")
    assert 'headings="Operations guide &gt; Backups &gt; Restoring"' in tool_text
    assert kb.search("Operations guide Keys rotate", k=1, mode="lexical")[0].text.endswith(
        "Ok."), "BM25 reads the headings too"


def test_another_tokenizer_file_splits_the_source_again(settings, ollama, tmp_path):
    def trained(vocabulary: int) -> str:
        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.train_from_iterator([LONG], trainers.WordPieceTrainer(
            vocab_size=vocabulary, special_tokens=["[UNK]"]))
        path = tmp_path / f"tokenizer-{vocabulary}.json"
        tokenizer.save(str(path))
        return str(path)

    options = {"chunk_size": 100, "chunk_overlap": 10, "embed_context": 128,
               "document_prefix": ""}
    KnowledgeBase(settings, embed_tokenizer=trained(60), **options).add_texts(
        [LONG], [{"source": "long.md"}])
    again = KnowledgeBase(settings, embed_tokenizer=trained(400), **options).add_texts(
        [LONG], [{"source": "long.md"}])

    assert again.added > 0 and again.removed > 0, "other counts cut other chunks"
