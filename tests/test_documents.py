from pathlib import Path

import pytest

from qa.documents import (
    html_to_text,
    load_corpus,
    markdown_to_text,
    parse_document,
    read_source_text,
    save_upload,
    source_path,
)


def test_html_is_indexed_as_text_without_markup_or_page_furniture():
    html = ("<html><head><style>p{color:red}</style><script>var x=1;</script></head><body>"
            "<nav>Home | About</nav><h1>Xiaomi&nbsp;EV</h1><p>The plant makes <b>300,000</b> cars.</p>"
            "<footer>Copyright</footer></body></html>")
    text = html_to_text(html)
    assert text == "Xiaomi EV\n\nThe plant makes\n\n300,000\n\ncars." or "The plant makes" in text
    for markup in ("<", "color:red", "var x", "Home | About", "Copyright"):
        assert markup not in text


def test_markdown_is_indexed_as_text_without_syntax():
    text = markdown_to_text("# Title\n\nSome **bold** claim with a [link](http://x.example).\n\n- item one\n")
    assert "Title" in text and "bold" in text and "link" in text and "item one" in text
    for syntax in ("#", "**", "](", "http://x.example"):
        assert syntax not in text


def test_binary_undecodable_and_empty_files_are_skipped_with_reasons(tmp_path: Path):
    (tmp_path / "good.txt").write_text("Xiaomi builds cars.", encoding="utf-8")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (tmp_path / "garbled.md").write_bytes(bytes([0x80, 0x81, 0xFE, 0xFF, 0xC3]) * 50)
    (tmp_path / "empty.html").write_text("<html><body>   </body></html>")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / ".hidden.txt").write_text("secret")
    documents, skipped = load_corpus(tmp_path)
    assert [d.source for d in documents] == [f"{tmp_path.name}/good.txt"]
    reasons = {s.source.split("/")[-1]: s.reason for s in skipped}
    assert reasons["image.txt"] == "binary or not decodable as text"
    assert reasons["garbled.md"] == "binary or not decodable as text"
    assert reasons["empty.html"] == "no text"
    assert reasons["notes.pdf"].startswith("unsupported file type")
    assert ".hidden.txt" not in reasons


def test_latin1_text_is_read_rather_than_dropped():
    data = ("Le café de Xiaomi à Pékin a ouvert en décembre, près de l'usine. " * 5).encode("cp1252")
    document = parse_document("corpus/cafe.txt", data)
    assert "café" in document.text


def test_missing_corpus_folder_is_an_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        load_corpus(tmp_path / "nope")


def test_uploads_stay_inside_the_corpus_folder(tmp_path: Path):
    corpus = tmp_path / "docs"
    saved = save_upload(corpus, "../../etc/evil.txt", b"hello")
    assert saved == corpus.resolve() / "evil.txt"
    assert not (tmp_path / "etc").exists()
    assert save_upload(corpus, "C:\\Users\\me\\notes.md", b"# hi").name == "notes.md"
    for bad in ("", "..", ".bashrc", "photo.png"):
        with pytest.raises(ValueError):
            save_upload(corpus, bad, b"x")
    with pytest.raises(ValueError):
        source_path(corpus, "docs/../../outside.txt")


def test_source_text_reads_back_what_was_indexed(tmp_path: Path):
    (tmp_path / "page.html").write_text("<p>One.</p><p>Two.</p>")
    assert read_source_text(tmp_path, f"{tmp_path.name}/page.html") == "One.\n\nTwo."
