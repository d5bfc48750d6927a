"""PDF and Word files: text, pages, and the reasons a file is skipped; pages carried into citations."""

from __future__ import annotations

import pytest
from format_fixtures import docx_bytes, encrypted_pdf_bytes, pdf_bytes

from qa.answer import make_citation
from qa.chunking import SentenceChunker, to_llama_documents
from qa.documents import SkippedFile, SourceDocument, parse_document
from qa.formats import FORMATS, chunk_pages, page_at
from qa.formats.pdf import unwrap_lines
from qa.ranking import Candidate
from qa.store import SentenceRecord

PAGES = [
    ["Annual report", "The reactor in the north wing produces 42 megawatts of power and was",
     "built in 1998 by the Acme company."],
    ["Safety", "The cooling tower was inspected in March 2021 by an independent panel of",
     "engineers, who found no faults.", "Short line."],
]


def test_every_format_is_one_registry_entry_with_its_suffixes():
    assert {fmt.name for fmt in FORMATS.values()} == {"text", "markdown", "html", "pdf", "docx"}
    assert all(suffix in fmt.suffixes for suffix, fmt in FORMATS.items())


def test_pdf_text_layer_with_pages_and_wrapped_lines_joined():
    document = parse_document("docs/report.pdf", pdf_bytes(PAGES))
    assert isinstance(document, SourceDocument), document
    text = document.text
    assert "The reactor in the north wing produces 42 megawatts of power and was built in 1998 by the Acme company." in text
    assert "Annual report\n" in text  # a heading stays a line of its own
    second = text.index("The cooling tower")
    assert document.page_starts[0] == 0 and document.page_starts[1] <= second
    assert text[document.page_starts[1]:].startswith("Safety")
    assert document.page_at(text.index("reactor")) == 1 and document.page_at(second) == 2


def test_pdf_unwrapping_keeps_headings_bullets_and_undoes_hyphenation():
    page = ("Results\nThe measured output of the plant was far above the informa-\n"
            "tion given in the business plan of last year, and the\nboard agreed.\n• first point\n• second point")
    assert unwrap_lines(page) == ("Results\nThe measured output of the plant was far above the information given in "
                                  "the business plan of last year, and the board agreed.\n• first point\n• second point")


@pytest.mark.parametrize(("make", "reason"), [
    (lambda: encrypted_pdf_bytes(PAGES), "encrypted PDF"),
    (lambda: pdf_bytes([[]], image_only=True), "PDF without a text layer"),
    (lambda: pdf_bytes(PAGES)[:400], "broken PDF"),
    (lambda: b"%PDF-1.7\n" + bytes(range(256)) * 20, "broken PDF"),
])
def test_encrypted_scanned_and_broken_pdfs_are_skipped_with_the_reason(make, reason):
    result = parse_document("docs/report.pdf", make())
    assert isinstance(result, SkippedFile) and result.reason.startswith(reason), result


def test_docx_paragraphs_headings_and_tables_in_order():
    data = docx_bytes("Annual report", ["The plant makes 300,000 cars a year.", "It opened in 2021."],
                      [["Year", "Cars"], ["2023", "300,000"]])
    document = parse_document("docs/report.docx", data)
    assert isinstance(document, SourceDocument) and document.page_starts == ()
    assert document.text == ("Annual report\n\nThe plant makes 300,000 cars a year.\n\nIt opened in 2021.\n\n"
                             "Year | Cars\n2023 | 300,000\n\nThe end of the report.")


@pytest.mark.parametrize(("data", "reason"), [
    (b"PK\x03\x04 not really a zip", "broken Word document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "encrypted Word document"),
])
def test_broken_and_encrypted_docx_are_skipped_with_the_reason(data, reason):
    result = parse_document("docs/report.docx", data)
    assert isinstance(result, SkippedFile) and result.reason.startswith(reason), result


def test_a_chunk_knows_its_pages_and_a_citation_its_page():
    assert chunk_pages((), 0, 10) == ""
    pages = chunk_pages((0, 100, 200), 150, 260)
    assert [page_at(pages, offset) for offset in (150, 199, 200, 259)] == [2, 2, 3, 3]
    assert page_at("", 5) is None
    document = parse_document("docs/report.pdf", pdf_bytes(PAGES))
    chunks = SentenceChunker(chunk_size=40, chunk_overlap=0).get_nodes_from_documents(to_llama_documents([document]))
    assert len(chunks) >= 2 and all("page_starts" not in chunk.metadata for chunk in chunks)
    for chunk in chunks:
        offset = chunk.start_char_idx
        assert page_at(chunk.metadata["pages"], offset) == document.page_at(offset)
    last = chunks[-1]
    record = SentenceRecord(last.id_, "docs/report.pdf", last.start_char_idx, last.end_char_idx, last.text, None)
    citation = make_citation(1, Candidate(record, last.text, last.start_char_idx, "", "", 0.0, 0.0, 0.0,
                                          pages=last.metadata["pages"]))
    assert citation.page == 2 and citation.page_note == ", p. 2"
