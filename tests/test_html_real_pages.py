"""Real documents end to end: Python documentation pages (HTML with inline markup), a PDF and a Word file,
indexed by the real engine into a tmp Chroma store and asked about."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from format_fixtures import docx_bytes, pdf_bytes

from qa.documents import load_corpus
from qa.sentences import sentence_spans
from qa.ui_text import citation_markdown

PAGES = Path(__file__).parent / "fixtures" / "python-docs"
INLINE_SENTENCES = {
    "fnmatch.html": "Also note that functools.lru_cache() with the maxsize of 32768 is used to cache the compiled "
                    "regex patterns in the following functions: fnmatch(), fnmatchcase(), filter().",
    "interpreter.html": "Typing an end-of-file character (Control-D on Unix, Control-Z on Windows) at the primary "
                        "prompt causes the interpreter to exit with a zero exit status.",
    "appetite.html": "Python is an interpreted language, which can save you considerable time during program "
                     "development because no compilation and linking is necessary.",
}


def test_sentences_with_inline_markup_come_out_whole(tmp_path: Path):
    folder = tmp_path / "docs"
    shutil.copytree(PAGES, folder)
    documents, _ = load_corpus(folder)
    by_name = {document.source.split("/")[-1]: document.text for document in documents}
    for name, sentence in INLINE_SENTENCES.items():
        text = by_name[name]
        assert sentence in [text[span.start:span.end] for span in sentence_spans(text)], name
    assert "¶" not in by_name["fnmatch.html"] and "Previous topic" not in by_name["fnmatch.html"]


@pytest.fixture
def docs_engine(tmp_path: Path, make_engine):
    folder = tmp_path / "seeds"
    shutil.copytree(PAGES, folder, ignore=shutil.ignore_patterns("README.md"))
    (folder / "report.pdf").write_bytes(pdf_bytes([
        ["Plant report", "The site was chosen in 2019 after a two year survey of the river valley and", "its soils."],
        ["Output", "The reactor in the north wing produces 42 megawatts of electric power and was",
         "built in 1998 by the Acme company."],
    ]))
    (folder / "fleet.docx").write_bytes(docx_bytes("Ferry fleet", [
        "The new ferry will carry 1,200 passengers between the two harbours from next spring."]))
    engine = make_engine()
    report = engine.ingest()
    assert not report.skipped and len(report.added) == 5
    return engine


@pytest.mark.slow
def test_questions_about_inline_markup_pdf_pages_and_word_files_are_answered(docs_engine):
    asked = [
        ("What maxsize does functools.lru_cache use to cache fnmatch patterns?", "fnmatch.html", "32768", None),
        ("How many megawatts does the reactor in the north wing produce?", "report.pdf", "42 megawatts", 2),
        ("How many passengers will the new ferry carry?", "fleet.docx", "1,200 passengers", None),
    ]
    for question, source, fact, page in asked:
        answer = docs_engine.ask(question)
        assert not answer.refused, (question, answer.text)
        assert fact in answer.text
        first = answer.citations[0]
        assert first.source.endswith(source) and fact in first.quote
        assert docs_engine.document_text(first.source)[first.start:first.end] == first.quote
        assert first.page == page
        if page:
            assert f"`{first.source}`, p. {page}, characters" in citation_markdown(first)
