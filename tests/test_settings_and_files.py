"""Settings from arguments and environment; reading PDF and HTML files."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from rankwise.tools import Settings
from rankwise.tools.core.documents import html_to_text, load_file


def test_environment_configures_everything(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box:11434")
    monkeypatch.setenv("RANKWISE_COLLECTION", "notes")
    monkeypatch.setenv("RANKWISE_CHUNK_SIZE", "500")

    settings = Settings()

    assert settings.ollama_host == "http://gpu-box:11434"
    assert settings.collection == "notes" and settings.chunk_size == 500
    assert Settings(collection="other").collection == "other"


def test_rankwise_variable_wins_over_ollamas_own(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "http://a:1")
    monkeypatch.setenv("RANKWISE_OLLAMA_HOST", "http://b:2")
    assert Settings().ollama_host == "http://b:2"
    assert Settings(ollama_host="http://c:3").ollama_host == "http://c:3"


@pytest.mark.parametrize("overrides, message", [
    ({"chunk_size": 100, "chunk_overlap": 100}, "must be smaller than chunk_size"),
    ({"collection": "my-docs"}, "collection name"),
    ({"collection": "1docs"}, "collection name"),
    ({"request_timeout": 0}, "greater than 0"),
    ({"embed_modle": "x"}, "Extra inputs"),
])
def test_invalid_settings_name_the_problem(overrides, message):
    with pytest.raises(ValidationError, match=message):
        Settings(**overrides)


def test_server_uri_is_not_local():
    assert Settings(milvus_uri="./x.db").milvus_is_local
    assert not Settings(milvus_uri="http://milvus:19530").milvus_is_local


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with one line of text, written by hand with a correct xref."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def test_pdf_pages_become_documents_with_page_numbers(tmp_path, kb):
    pdf = tmp_path / "manual.pdf"
    pdf.write_bytes(minimal_pdf("Replace the filter cartridge every spring."))

    source = load_file(pdf)

    assert [d.metadata for d in source.documents] == [{"file_type": "pdf", "page": 1}]
    assert "filter cartridge" in source.documents[0].page_content
    kb.ingest([tmp_path])
    assert kb.search("filter cartridge spring", k=1)[0].metadata["page"] == 1


def test_damaged_pdf_is_skipped_with_a_message(tmp_path, kb):
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (tmp_path / "fine.md").write_text("A fine file.")

    report = kb.ingest([tmp_path])

    assert report.sources == 1 and "broken.pdf: cannot read PDF" in report.skipped[0]


def test_html_text_keeps_paragraphs_and_drops_scripts():
    title, text = html_to_text(
        "<html><head><title> Guide </title><script>alert(1)</script></head><body>"
        "<h1>Intro</h1><p>First &amp; best.</p><p>Second   line.</p></body></html>")
    assert title == "Guide"
    assert text == "Intro\n\nFirst & best.\n\nSecond line."
